import { chmodSync, mkdtempSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExitTally, serverStats } from '../../src/arbiter/stats';
import { formatAge, formatStatus, formatTotals, STATUS_COLUMNS } from '../../src/control/format';
import { defaultControlDir } from '../../src/control/paths';
import { type ControlReply, checkPrivateDir, parseRequest } from '../../src/control/protocol';
import { PendingReplies, type Reply } from '../../src/control/server';
import type { WorkerStats } from '../../src/hooks/types';

const worker = (id: number, over: Partial<WorkerStats> = {}): WorkerStats => ({
  id,
  pid: 4000 + id,
  generation: 1,
  state: 'ready',
  startedAt: 0,
  age: 65_000,
  requests: 12,
  inFlight: 1,
  elu: 0.25,
  connections: 3,
  rss: 50 * 1024 * 1024,
  accessLogDropped: 0,
  mounts: { '/': 12 },
  heartbeatAge: 1200,
  published: {},
  ...over,
});

describe('the status table', () => {
  const stats = (workers: WorkerStats[], exited = new ExitTally()) =>
    serverStats({
      version: '1.2.3',
      startedAt: Date.now(),
      state: 'serving',
      workerCount: workers.length,
      generation: 1,
      listeners: [],
      controlSocket: undefined,
      workers,
      exited,
    });

  it('shows the bounds of an adaptive count and its last change with the reason and age; nothing for a fixed count', () => {
    const scaling = { min: 1, max: 4, changes: { up: 3, down: 1 }, last: { from: 2, to: 3, reason: 'busy 0.93 for 10s', age: 12_000 } };
    const adaptive = { ...stats([worker(1), worker(2), worker(3)]), scaling };
    expect(formatStatus(adaptive).split('\n')).toContain(
      'Scaling: workers 3 (1:4, by load); last change 12s ago: 2 → 3, busy 0.93 for 10s',
    );
    expect(formatTotals(adaptive)).toContain('workers_min 1\nworkers_max 4\nscaling_up 3\nscaling_down 1\n');
    expect(formatStatus(stats([worker(1)]))).not.toContain('Scaling');
    expect(formatTotals(stats([worker(1)]))).not.toContain('scaling');
  });

  it('names the mounts that served the requests, live and exited workers summed, when there is more than an app at /', () => {
    const tally = new ExitTally();
    tally.add('reload', 7, true, 0, { '/api': 5, 'static:/assets': 2 });
    const mounted = stats([worker(1, { mounts: { '/': 3, '/api': 4 } }), worker(2, { mounts: { '/': 1, 'static:/assets': 6 } })], tally);
    expect(mounted.mounts).toEqual({ '/': 4, '/api': 9, 'static:/assets': 8 });
    expect(formatStatus(mounted).split('\n')).toContain('Requests by mount: /api 9, static:/assets 8, / 4');
    expect(formatStatus(stats([worker(1)]))).not.toContain('by mount');
  });

  it('has a row for the arbiter with the restarts, one per worker, columns aligned, and the exits by reason', () => {
    const tally = new ExitTally();
    tally.add('crash', 5, true);
    tally.add('reload', 3, true);
    tally.add('reload', 4, true);
    tally.add('scale-down', 0, false);
    const stats = serverStats({
      version: '1.2.3',
      startedAt: Date.now() - 3_725_000,
      state: 'serving',
      workerCount: 2,
      generation: 2,
      listeners: ['http://127.0.0.1:8000'],
      controlSocket: '/run/ctl.sock',
      workers: [worker(5), worker(6, { state: 'booting', rss: 0, requests: 0, inFlight: 0, connections: 0 })],
      exited: tally,
    });
    const lines = formatStatus(stats).split('\n');
    expect(lines.slice(0, 2)).toEqual([
      'unicorn 1.2.3: serving, 1 of 2 workers ready (generation 2)',
      'Listening at: http://127.0.0.1:8000',
    ]);
    const table = lines.slice(3, 7);
    expect(table[0]!.split(/\s{2,}/)).toEqual([
      'PID',
      'WORKER',
      'AGE',
      'STATE',
      'REQUESTS',
      'IN-FLIGHT',
      'BUSY',
      'CONNECTIONS',
      'MEMORY',
      'RESTARTS',
      'LAST HEARTBEAT',
    ]);
    // Requests: 12 by the workers that exited, 12 by the live ones.
    expect(table[1]!.split(/\s+/)).toEqual([
      String(process.pid),
      'arbiter',
      '1h02m',
      'serving',
      '24',
      '1',
      '0.25',
      '3',
      expect.stringMatching(/MB$/),
      '3',
      '-',
    ]);
    expect(table[2]!.split(/\s+/)).toEqual(['4005', '5', '1m05s', 'ready', '12', '1', '0.25', '3', '50MB', '-', '1s', 'ago']);
    // Before its first heartbeat a worker has no memory figure, and its beat is only its fork.
    expect(table[3]!.split(/\s+/)).toEqual(['4006', '6', '1m05s', 'booting', '0', '0', '-', '0', '-', '-', '-']);
    // Every column starts where its header does.
    for (const column of STATUS_COLUMNS.slice(1)) {
      const at = table[0]!.indexOf(column);
      expect(table.slice(1).every((row) => row[at - 1] === ' ' && row[at] !== ' ')).toBe(true);
    }
    expect(lines.slice(8, 10)).toEqual(['Restarts: 3 (reload 2, crash 1)', 'Exits: 4 (reload 2, crash 1, scale-down 1)']);
    expect(formatTotals(stats)).toContain('\nrestarts 3\nrestarts_crash 1\n');
    expect(formatTotals(stats)).toContain('\nexits_scale_down 1\n');
  });

  it('says how evenly the serving workers share the requests and the connections', () => {
    const stats = serverStats({
      version: '1.2.3',
      startedAt: Date.now(),
      state: 'serving',
      workerCount: 3,
      generation: 1,
      listeners: [],
      controlSocket: undefined,
      // A stopping worker's connections are on their way elsewhere: not part of the spread.
      workers: [
        worker(1, { requests: 300, connections: 6 }),
        worker(2, { requests: 100, connections: 2 }),
        worker(3, { state: 'retiring', requests: 0, connections: 0 }),
        worker(4, { state: 'stopping', requests: 900, connections: 9 }),
      ],
      exited: new ExitTally(),
    });
    expect(stats.connections).toBe(17);
    expect(stats.spread).toEqual({ requests: 0.75, connections: 0.75 });
    expect(formatStatus(stats)).toContain('\nSpread over 3 workers: the busiest has 75% of the requests and 75% of the open connections\n');
    expect(formatTotals(stats)).toContain('\nconnections 17\nbusiest_worker_requests_share 0.75\nbusiest_worker_connections_share 0.75\n');
    const idle = serverStats({
      ...{ version: '1', startedAt: 0, state: 'serving', workerCount: 1, generation: 1, listeners: [], controlSocket: undefined },
      workers: [worker(1, { requests: 0, connections: 0 })],
      exited: new ExitTally(),
    });
    expect(idle.spread).toEqual({ requests: null, connections: null });
    expect(formatStatus(idle)).not.toContain('Spread');
  });

  it('shows how busy each worker is, the mean of those serving, and the connections waiting to be accepted', () => {
    const stats = serverStats({
      ...{ version: '1', startedAt: 0, state: 'serving', workerCount: 3, generation: 1, listeners: ['http://127.0.0.1:8000'] },
      controlSocket: undefined,
      // Neither a booting nor a stopping worker serves: not in the mean.
      workers: [
        worker(1, { elu: 0.9, inFlight: 4 }),
        worker(2, { state: 'retiring', elu: 0.1, inFlight: 0 }),
        worker(3, { state: 'booting', elu: 0 }),
        worker(4, { state: 'stopping', elu: 0.02 }),
      ],
      exited: new ExitTally(),
      backlog: 41,
    });
    expect(stats.elu).toBe(0.5);
    expect(stats.backlog).toBe(41);
    expect(stats.workers.map((w) => [w.id, w.elu, w.inFlight])).toEqual([
      [1, 0.9, 4],
      [2, 0.1, 0],
      [3, 0, 1],
      [4, 0.02, 1],
    ]);
    // As `ctl stats --json` sends them.
    expect(JSON.parse(JSON.stringify(stats))).toMatchObject({ elu: 0.5, backlog: 41, workers: [{ elu: 0.9, inFlight: 4 }, {}, {}, {}] });
    const lines = formatStatus(stats).split('\n');
    expect(lines.slice(1, 3)).toEqual(['Listening at: http://127.0.0.1:8000', 'Waiting to be accepted: 41']);
    const busy = lines[4]!.indexOf('BUSY');
    expect(lines.slice(5, 10).map((row) => row.slice(busy).split(' ')[0])).toEqual(['0.50', '0.90', '0.10', '-', '0.02']);
    expect(formatTotals(stats)).toContain('\nevent_loop_utilization 0.5\nbacklog 41\n');

    // Unknown where it cannot be read (not Linux, unix sockets only), and nothing to average with no worker serving.
    const unknown = serverStats({
      ...{ version: '1', startedAt: 0, state: 'serving', workerCount: 1, generation: 1, listeners: [], controlSocket: undefined },
      workers: [worker(1, { state: 'booting' })],
      exited: new ExitTally(),
    });
    expect([unknown.elu, unknown.backlog]).toEqual([null, null]);
    expect(formatStatus(unknown)).not.toContain('Waiting to be accepted');
    expect(formatStatus(unknown).split('\n')[4]!.split(/\s+/)[6]).toBe('-');
    expect(formatTotals(unknown)).toContain('\nevent_loop_utilization 0\n');
    expect(formatTotals(unknown)).not.toContain('backlog');
  });

  it("counts the access-log lines dropped by every worker, live and exited, as of each one's last heartbeat", () => {
    const tally = new ExitTally();
    tally.add('reload', 3, true, 7);
    tally.add('crash', 5, true);
    const stats = serverStats({
      version: '1.2.3',
      startedAt: Date.now(),
      state: 'serving',
      workerCount: 2,
      generation: 2,
      listeners: [],
      controlSocket: undefined,
      workers: [worker(5, { accessLogDropped: 30 }), worker(6)],
      exited: tally,
    });
    expect(stats.accessLogDropped).toBe(37);
    expect(stats.workers.map((w) => w.accessLogDropped)).toEqual([30, 0]);
    expect(formatTotals(stats)).toContain('\naccess_log_dropped 37\n');
  });

  it('writes ages in two units at most', () => {
    expect([0, 999, 1000, 59_999, 60_000, 3_599_000, 3_600_000, 86_399_000, 90_000_000].map(formatAge)).toEqual([
      '0ms',
      '999ms',
      '1s',
      '59s',
      '1m00s',
      '59m59s',
      '1h00m',
      '23h59m',
      '1d01h',
    ]);
  });
});

describe('control requests', () => {
  it('are refused unless they are well formed', () => {
    expect(parseRequest('{"command":"scale","count":3}')).toEqual({ command: 'scale', count: 3 });
    expect(parseRequest('{"command":"shutdown","quick":false}')).toEqual({ command: 'shutdown', quick: false });
    expect(parseRequest('scale 3')).toEqual({ refused: 'the request is not JSON' });
    expect(parseRequest('[1]')).toEqual({ refused: 'the request is not a JSON object' });
    expect(parseRequest('{"command":"scael"}')).toEqual({
      refused: 'unknown command "scael"; the commands are stats, reload, scale, add, remove, kill, reopen-logs, shutdown',
    });
    expect(parseRequest('{"command":"toString"}')).toMatchObject({ refused: expect.stringContaining('unknown command "toString"') });
    for (const bad of [
      '{"command":"scale","count":0}',
      '{"command":"scale","count":1.5}',
      '{"command":"kill","pid":"12"}',
      '{"command":"shutdown"}',
    ]) {
      expect(parseRequest(bad)).toEqual({ refused: expect.stringMatching(/request's arguments are not valid/) });
    }
  });
});

describe('replies that wait', () => {
  const recorder = () => {
    const sent: ControlReply[] = [];
    const reply: Reply = { send: (r) => sent.push(r) };
    return { sent, reply };
  };

  it('answer a reload with the outcome of the reload they wait for, not an earlier one', () => {
    const pending = new PendingReplies();
    const first = recorder();
    const queued = recorder();
    pending.afterReload(1, first.reply);
    pending.afterReload(2, queued.reply);
    pending.reloadEnded(1, { ok: false, error: 'Reload failed: x' });
    expect(first.sent).toEqual([{ ok: false, error: 'Reload failed: x' }]);
    expect(queued.sent).toEqual([]);
    pending.reloadEnded(2, { ok: true, message: 'Reload complete' });
    expect(queued.sent).toEqual([{ ok: true, message: 'Reload complete' }]);
  });

  it('answer a count once it is reached, or with the boot failure, or the stop, once', () => {
    const pending = new PendingReplies();
    let reached = false;
    const scale = recorder();
    pending.whenSettled(scale.reply, () => (reached ? { ok: true, message: 'done' } : undefined));
    pending.check();
    expect(scale.sent).toEqual([]);
    reached = true;
    pending.check();
    pending.check();
    expect(scale.sent).toEqual([{ ok: true, message: 'done' }]);

    const failing = recorder();
    const reload = recorder();
    pending.whenSettled(failing.reply, () => undefined);
    pending.afterReload(3, reload.reply);
    pending.failSettling('worker 7 failed to boot');
    expect(failing.sent).toEqual([{ ok: false, error: 'worker 7 failed to boot' }]);
    pending.failAll('the server is shutting down');
    expect(reload.sent).toEqual([{ ok: false, error: 'the server is shutting down' }]);
    expect(failing.sent).toHaveLength(1);
  });
});

describe('the default directory', () => {
  const base = () => mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-unit-'));

  it('is $XDG_RUNTIME_DIR/unicorn, or /tmp/unicorn-UID when that is unset or relative', () => {
    expect(defaultControlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/unicorn');
    expect(defaultControlDir({}, 1000)).toBe('/tmp/unicorn-1000');
    expect(defaultControlDir({ XDG_RUNTIME_DIR: 'run' }, 7)).toBe('/tmp/unicorn-7');
  });

  it('is created with mode 0700, and refused when others can write to it, it is a link, or not ours', () => {
    const dir = path.join(base(), 'unicorn');
    expect(checkPrivateDir(dir, false)).toBe('missing');
    expect(checkPrivateDir(dir, true)).toBeUndefined();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    chmodSync(dir, 0o770);
    expect(checkPrivateDir(dir, true)).toBe(`${dir} is writable by its group (mode 0770); expected mode 0700 (chmod 700 ${dir})`);
    chmodSync(dir, 0o755);
    expect(checkPrivateDir(dir, true)).toBeUndefined();

    const link = path.join(base(), 'unicorn');
    symlinkSync(dir, link);
    expect(checkPrivateDir(link, true)).toBe(`${link} is not a directory (a symbolic link)`);
    expect(checkPrivateDir(dir, false, process.getuid!() + 1)).toBe(
      `${dir} belongs to uid ${process.getuid!()}, not to this user (uid ${process.getuid!() + 1})`,
    );

    const noParent = path.join(base(), 'gone', 'unicorn');
    expect(checkPrivateDir(noParent, true)).toBe(`cannot create ${noParent}: no such directory ${path.dirname(noParent)}`);
  });
});
