/**
 * `unicorn ctl` against real servers: each command, what it prints and its exit code, the control
 * socket's file (mode, default place, removal, stale and live files, USR2), and every refusal.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServerStats } from '../../src/hooks/types';
import { type CtlRun, ctl, ctlStats } from '../helpers/ctl';
import { request } from '../helpers/http';
import { APPS, isAlive, NOBODY, runToExit, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-'));

/** A server with its control socket at a path of its own; resolves once `workers` are ready. */
async function serveWithSocket(workers: number, app = ROUTES, extra: string[] = []): Promise<{ unicorn: Unicorn; socket: string }> {
  const socket = path.join(tempDir(), 'ctl.sock');
  const unicorn = start(['-b', '127.0.0.1:0', '-w', String(workers), '--control-socket', socket, ...extra, app]);
  await unicorn.ready(workers);
  return { unicorn, socket };
}

const ready = (s: ServerStats) => s.workers.filter((w) => w.state === 'ready');

/** A /hold request, resolved once its headers are back: the request is in a worker. */
async function holdRequest(url: string, ms: number): Promise<{ done: Promise<string | Error>; finished: () => boolean }> {
  let inWorker!: () => void;
  const headers = new Promise<void>((resolve) => (inWorker = resolve));
  let finished = false;
  const done = request(`${url}/hold?ms=${ms}`, { onResponse: () => inWorker() }).then(
    (reply) => {
      finished = true;
      return reply.body;
    },
    (err: Error) => err,
  );
  await headers;
  return { done, finished: () => finished };
}

/** An app whose reply names its version, where a test can deploy a new one (or a broken one). */
function deployable(version: string): string {
  const file = path.join(tempDir(), 'app.js');
  writeFileSync(file, appSource(version));
  return file;
}
const appSource = (version: string) => `module.exports = (req, res) => res.end('version ${version}\\n');\n`;

describe('unicorn ctl status and stats', () => {
  it('shows the arbiter and each worker in a table, the same stats as JSON, on a socket of mode 0600', async () => {
    const { unicorn, socket } = await serveWithSocket(2);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).isSocket()).toBe(true);
    await request(`${unicorn.url()}/`);

    const status = await ctl(['--socket', socket, 'status']);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(/^unicorn \d+\.\d+\.\d+\S*: serving, 2 of 2 workers ready \(generation 1\)$/);
    expect(lines[1]).toBe(`Listening at: ${unicorn.url()}`);
    expect(lines[2]).toBe('Waiting to be accepted: 0');
    const header = lines.findIndex((l) => l.startsWith('PID'));
    expect(lines[header]!.split(/\s{2,}/)).toEqual([
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
    const rows = lines.slice(header + 1, header + 4).map((l) => l.trim().split(/\s+/));
    expect(rows[0]).toEqual([
      String(unicorn.pid),
      'arbiter',
      expect.stringMatching(/^\d+(ms|s)$/),
      'serving',
      expect.stringMatching(/^\d+$/),
      '0',
      expect.stringMatching(/^[01]\.\d\d$/),
      expect.stringMatching(/^[01]$/),
      expect.stringMatching(/MB$/),
      '0',
      '-',
    ]);
    const workerRows = rows.slice(1);
    expect(workerRows.map((r) => Number(r[0])).sort()).toEqual(unicorn.workerPids().sort());
    expect(workerRows.map((r) => r[1])).toEqual(['1', '2']);
    for (const row of workerRows) expect(row.slice(3, 5)).toEqual(['ready', expect.stringMatching(/^[01]$/)]);
    expect(lines).toContain('Restarts: 0 (none)');

    const json = await ctlStats(socket);
    expect(json).toMatchObject({
      pid: unicorn.pid,
      state: 'serving',
      workerCount: 2,
      generation: 1,
      listeners: [unicorn.url()],
      controlSocket: socket,
      restarts: 0,
    });
    expect(json.workers.map((w) => w.pid).sort()).toEqual(unicorn.workerPids().sort());
    expect(json.exits).toMatchObject({ crash: 0, reload: 0, 'ctl-kill': 0 });
    expect(json.rss).toBeGreaterThan(1e6);

    const plain = await ctl(['--socket', socket, 'stats']);
    expect(plain.stdout).toContain(`pid ${unicorn.pid}\n`);
    expect(plain.stdout).toContain('workers_ready 2\n');
    expect(plain.stdout).toContain('exits_ctl_kill 0\n');
  });
});

describe('unicorn ctl status, as the workers are now', () => {
  // --timeout 60s: heartbeats 5 s apart, the most. Every count below comes sooner than one would.
  it('shows what each worker has served, has in flight and holds in memory when asked', async () => {
    const { unicorn, socket } = await serveWithSocket(1, ROUTES, ['--timeout', '60s']);
    const fresh = await ctlStats(socket);
    expect(fresh.workers[0]).toMatchObject({ requests: 0, inFlight: 0 });
    expect(fresh.workers[0]!.rss).toBeGreaterThan(1e6);

    await request(`${unicorn.url()}/`);
    expect((await ctlStats(socket)).workers[0]).toMatchObject({ requests: 1, inFlight: 0 });
    expect((await ctlStats(socket)).requests).toBe(1);

    await holdRequest(unicorn.url(), 20_000);
    const status = await ctl(['--socket', socket, 'status']);
    const row = status.stdout.split('\n').find((line) => line.startsWith(`${unicorn.workerPids()[0]} `))!;
    // PID WORKER AGE STATE REQUESTS IN-FLIGHT BUSY CONNECTIONS MEMORY
    expect(row.trim().split(/\s+/).slice(3, 9)).toEqual([
      'ready',
      '2',
      '1',
      expect.stringMatching(/^[01]\.\d\d$/),
      expect.stringMatching(/^[12]$/),
      expect.stringMatching(/MB$/),
    ]);
  });

  it('answers with the last heartbeat for a worker that cannot answer, without waiting for it', async () => {
    const { unicorn, socket } = await serveWithSocket(1, ROUTES, ['--timeout', '60s']);
    let inWorker!: () => void;
    const headers = new Promise<void>((resolve) => (inWorker = resolve));
    let spinning = true;
    // Its event loop is held from when the headers go out until this file exists (25 s at most).
    const release = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-')), 'release');
    const cpu = request(`${unicorn.url()}/cpu?ms=25000&until=${encodeURIComponent(release)}`, {
      timeoutMs: 30_000,
      onResponse: () => inWorker(),
    }).finally(() => (spinning = false));
    await headers;
    const answered = await ctlStats(socket);
    expect(spinning).toBe(true);
    expect(answered.workers).toEqual([expect.objectContaining({ pid: unicorn.workerPids()[0], state: 'ready' })]);
    writeFileSync(release, '');
    expect((await cpu).body).toMatch(/^cpu \d+\n$/);
  });
});

describe('unicorn ctl scale, add, remove', () => {
  it('return once the live ready workers number what was asked', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    expect(await ctl(['--socket', socket, 'scale', '3'])).toEqual({ code: 0, stdout: '3 workers ready (was 1)\n', stderr: '' });
    // Ready when the command returns, not some time after (a worker takes a few hundred ms to boot).
    expect(ready(await ctlStats(socket))).toHaveLength(3);
    expect(unicorn.workerPids()).toHaveLength(3);

    expect(await ctl(['--socket', socket, 'remove', '2'])).toMatchObject({ code: 0, stdout: '1 worker ready (was 3)\n' });
    const after = await ctlStats(socket);
    expect(ready(after)).toHaveLength(1);
    expect(after.workers.filter((w) => w.state !== 'stopping')).toHaveLength(1);
    // The oldest stopped: worker 3 serves on.
    expect(ready(after)[0]!.id).toBe(3);
    expect(after.exits['scale-down'] + after.workers.filter((w) => w.state === 'stopping').length).toBe(2);

    expect(await ctl(['--socket', socket, 'add'])).toMatchObject({ code: 0, stdout: '2 workers ready (was 1)\n' });
    expect(ready(await ctlStats(socket))).toHaveLength(2);
  });

  it('refuse a count that is not a whole number, and removing the last worker', async () => {
    const { socket } = await serveWithSocket(2);
    expect(await ctl(['--socket', socket, 'scale', 'x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'unicorn ctl: error: scale "x" is not accepted: expected a whole number of at least 1\n',
    });
    expect((await ctl(['--socket', socket, 'scale', '0'])).stderr).toBe(
      'unicorn ctl: error: scale "0" is not accepted: expected a whole number of at least 1\n',
    );
    expect((await ctl(['--socket', socket, 'add', '1.5'])).stderr).toBe(
      'unicorn ctl: error: add "1.5" is not accepted: expected a whole number of at least 1\n',
    );
    expect(await ctl(['--socket', socket, 'remove', '2'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'unicorn ctl: error: remove 2 is not accepted: the server runs 2 workers and keeps at least one; expected at most 1\n',
    });
    expect(ready(await ctlStats(socket))).toHaveLength(2);
  });
});

describe('unicorn ctl reload', () => {
  it('returns once every new worker is ready', async () => {
    const app = deployable('1');
    const { unicorn, socket } = await serveWithSocket(2, app);
    writeFileSync(app, appSource('2'));
    const run = await ctl(['--socket', socket, 'reload']);
    expect(run).toEqual({ code: 0, stdout: 'Reload complete: 2 new workers ready; stopping 2 previous workers\n', stderr: '' });
    const after = await ctlStats(socket);
    expect(after.generation).toBe(2);
    expect(ready(after).map((w) => w.generation)).toEqual([2, 2]);
    expect(unicorn.lines('Reload complete')).toHaveLength(1);
  });

  it('fails with the boot error when the new code does not load, and the old workers serve on', async () => {
    const app = deployable('1');
    const { unicorn, socket } = await serveWithSocket(2, app);
    writeFileSync(app, 'module.exports = (req, res) => {\n  res.end("broken"\n};\n');
    const run = await ctl(['--socket', socket, 'reload']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^unicorn ctl: error: Reload failed: worker \(pid:\d+\) exited with code 4: cannot load the app ".*app\.js": .*SyntaxError: .* \(at .*app\.js:\d+\); the previous workers keep serving\n$/,
    );
    expect((await request(unicorn.url())).body).toBe('version 1\n');
    const after = await ctlStats(socket);
    expect(after.generation).toBe(1);
    expect(ready(after)).toHaveLength(2);
    // The new workers were not replaced: no restart.
    expect(after.restarts).toBe(0);
  });

  it('fails with the error of new code that throws as it starts, after loading (a rejection no one handled)', async () => {
    const app = deployable('1');
    const { unicorn, socket } = await serveWithSocket(2, app);
    writeFileSync(app, `Promise.reject(new Error('cannot reach the database'));\n${appSource('2')}`);
    const run = await ctl(['--socket', socket, 'reload']);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toMatch(
      /^unicorn ctl: error: Reload failed: worker \(pid:\d+\) exited with code 3: Worker failed to boot: cannot reach the database; the previous workers keep serving\n$/,
    );
    expect((await request(unicorn.url())).body).toBe('version 1\n');
  });
});

describe('unicorn ctl kill', () => {
  it('replaces the worker: returns once it has exited and its replacement is ready', async () => {
    const { socket } = await serveWithSocket(2);
    const [first, second] = (await ctlStats(socket)).workers;
    const run = await ctl(['--socket', socket, 'kill', String(first!.pid)]);
    expect(run).toEqual({ code: 0, stdout: `Worker 1 (pid ${first!.pid}) has exited; 2 workers ready\n`, stderr: '' });
    expect(isAlive(first!.pid)).toBe(false);
    const after = await ctlStats(socket);
    expect(ready(after).map((w) => w.pid)).toEqual([second!.pid, expect.any(Number)]);
    expect(ready(after)[1]!.id).toBe(3);
    expect(after.exits['ctl-kill']).toBe(1);
    expect(after.restartsByReason['ctl-kill']).toBe(1);
    expect(after.restarts).toBe(1);
  });

  it('refuses a pid that is not one of its workers', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    const [worker] = unicorn.workerPids();
    const refused = await ctl(['--socket', socket, 'kill', '999999999']);
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: kill 999999999 is not accepted: no worker of this server has pid 999999999; its workers are ${worker}\n`,
    });
    expect((await ctl(['--socket', socket, 'kill', String(unicorn.pid)])).stderr).toContain(`${unicorn.pid} is the arbiter (use shutdown)`);
    expect((await ctl(['--socket', socket, 'kill', 'abc'])).stderr).toBe(
      'unicorn ctl: error: kill "abc" is not accepted: expected the pid of a worker, a whole number (unicorn ctl status lists them)\n',
    );
  });
});

describe('unicorn ctl shutdown', () => {
  it('stops gracefully and returns once the arbiter has exited, its socket file removed', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    const held = await holdRequest(unicorn.url(), 600);
    const run = await ctl(['--socket', socket, 'shutdown']);
    expect(run).toEqual({ code: 0, stdout: `Shutting down gracefully (pid ${unicorn.pid})\nThe server has exited\n`, stderr: '' });
    // The request in flight was answered before the arbiter exited.
    expect(held.finished()).toBe(true);
    expect(await held.done).toMatch(/^held \d+\n$/);
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
  });

  it('--quick stops at once, without waiting for requests in flight', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    const held = await holdRequest(unicorn.url(), 20_000);
    const started = Date.now();
    const run = await ctl(['--socket', socket, 'shutdown', '--quick']);
    expect(run).toEqual({ code: 0, stdout: `Shutting down quickly (pid ${unicorn.pid})\nThe server has exited\n`, stderr: '' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    // Its connection was closed under it: an Error (from Node's realm, so not instanceof the test's).
    expect(Object.prototype.toString.call(await held.done)).toBe('[object Error]');
    expect(held.finished()).toBe(false);
  });
});

describe('signals and ctl commands are the same actions', () => {
  it('a second shutdown during a graceful stop makes it quick, as a second TERM does', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    const held = await holdRequest(unicorn.url(), 20_000);
    const began = Date.now();
    const first = ctl(['--socket', socket, 'shutdown']);
    await unicorn.waitForLog((l) => l.msg === 'Handling control command: shutdown', 'the first shutdown');
    const second = await ctl(['--socket', socket, 'shutdown']);
    expect(second).toEqual({ code: 0, stdout: `Shutting down quickly (pid ${unicorn.pid})\nThe server has exited\n`, stderr: '' });
    expect(await first).toEqual({ code: 0, stdout: `Shutting down gracefully (pid ${unicorn.pid})\nThe server has exited\n`, stderr: '' });
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    // Not the held request's 20 s, nor --graceful-timeout's 30 s.
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(Object.prototype.toString.call(await held.done)).toBe('[object Error]');
  });

  it('TTOU and remove at the one-worker floor are refused with the same message', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    const refusal = 'remove 1 is not accepted: the server runs 1 worker, and never goes below one';
    unicorn.signal('SIGTTOU');
    await unicorn.waitForLog((l) => l.msg === 'Handling signal: ttou', 'the TTOU');
    await unicorn.waitForLog((l) => l.msg === refusal && l.level === 'info', 'the refusal of TTOU in the log');
    expect(await ctl(['--socket', socket, 'remove'])).toEqual({ code: 1, stdout: '', stderr: `unicorn ctl: error: ${refusal}\n` });
    // Logged as the signal's is.
    expect(unicorn.lines(refusal)).toHaveLength(2);
    expect(ready(await ctlStats(socket))).toHaveLength(1);
  });
});

describe('unicorn ctl reopen-logs', () => {
  it('reopens the logs in the arbiter and tells every worker', async () => {
    const { unicorn, socket } = await serveWithSocket(2);
    expect(await ctl(['--socket', socket, 'reopen-logs'])).toEqual({
      code: 0,
      stdout: "Reopened the arbiter's log files; told 2 workers to reopen theirs\n",
      stderr: '',
    });
    await unicorn.waitForLog((l) => l.msg === 'Handling control command: reopen-logs', 'the command in the log');
  });
});

describe('the default place', () => {
  /** XDG_RUNTIME_DIR for this test alone, so other tests' servers are not found. */
  const runtimeDir = () => {
    const dir = tempDir();
    return { dir, env: { XDG_RUNTIME_DIR: dir }, sockets: path.join(dir, 'unicorn') };
  };

  it('is $XDG_RUNTIME_DIR/unicorn/PID.sock, found by ctl without --socket; several servers are listed', async () => {
    const { env, sockets } = runtimeDir();
    const none = await ctl(['status'], { env });
    expect(none).toMatchObject({ code: 1, stdout: '' });
    expect(none.stderr).toBe(
      `unicorn ctl: error: no unicorn server found: ${sockets} does not exist (a server started with --control-socket PATH is reached with --socket PATH)\n`,
    );

    const one = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await one.ready(1);
    expect(statSync(sockets).mode & 0o777).toBe(0o700);
    expect(readdirSync(sockets)).toEqual([`${one.pid}.sock`]);
    const found = await ctl(['status'], { env });
    expect(found.code).toBe(0);
    expect(found.stdout).toMatch(new RegExp(`^${one.pid}\\s+arbiter\\s`, 'm'));

    const two = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await two.ready(1);
    const several = await ctl(['stats', '--json'], { env });
    expect(several.code).toBe(2);
    const [first, second] = [one, two].sort((a, b) => a.pid - b.pid);
    expect(several.stderr).toBe(
      'unicorn ctl: error: 2 unicorn servers are running; choose one with --socket PATH:\n' +
        `  ${sockets}/${first!.pid}.sock  pid ${first!.pid}  ${first!.url()}\n` +
        `  ${sockets}/${second!.pid}.sock  pid ${second!.pid}  ${second!.url()}\n`,
    );

    // Stopped, a server removes its socket; the one left is found again.
    expect((await ctl(['--socket', path.join(sockets, `${two.pid}.sock`), 'shutdown'], { env })).code).toBe(0);
    expect(readdirSync(sockets)).toEqual([`${one.pid}.sock`]);
    expect((await ctl(['stats', '--json'], { env })).code).toBe(0);
  });

  it('is not taken without --socket when its one server may not be yours: a socket that leads elsewhere', async () => {
    const { env, sockets } = runtimeDir();
    const { unicorn, socket } = await serveWithSocket(1);
    // A name in the default directory for a socket outside it.
    mkdirSync(sockets, { mode: 0o700 });
    const link = path.join(sockets, '999999.sock');
    symlinkSync(socket, link);
    expect(await ctl(['status'], { env })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `unicorn ctl: error: the unicorn server found in ${sockets} may not be yours: it leads to ${socket}, outside ${sockets}; if it is the one you mean, choose it with --socket PATH:\n` +
        `  ${link}  pid ${unicorn.pid}  ${unicorn.url()}  (it leads to ${socket}, outside ${sockets})\n`,
    });
    expect((await ctl(['--socket', link, 'status'], { env })).code).toBe(0);
  });

  it('takes a server reached under two names in the default directory (a link beside its socket) as one', async () => {
    const { env, sockets } = runtimeDir();
    const unicorn = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await unicorn.ready(1);
    symlinkSync(path.join(sockets, `${unicorn.pid}.sock`), path.join(sockets, 'current.sock'));
    const found = await ctl(['status'], { env });
    expect(found).toMatchObject({ code: 0, stderr: '' });
    expect(found.stdout).toMatch(new RegExp(`^${unicorn.pid}\\s+arbiter\\s`, 'm'));
  });

  const asRoot = process.getuid!() === 0;
  if (!asRoot) process.stderr.write("ctl.test.ts: not root: a socket of another user's in the default directory is not tested\n");
  (asRoot ? it : it.skip)("is not taken without --socket when its one server may not be yours: another user's socket", async () => {
    const { env, sockets } = runtimeDir();
    const unicorn = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await unicorn.ready(1);
    const socket = path.join(sockets, `${unicorn.pid}.sock`);
    // As a server of that user's would have made it.
    chownSync(socket, NOBODY, NOBODY);
    const why = `its socket belongs to uid ${NOBODY}, and this is uid 0`;
    expect(await ctl(['stats'], { env })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `unicorn ctl: error: the unicorn server found in ${sockets} may not be yours: ${why}; if it is the one you mean, choose it with --socket PATH:\n` +
        `  ${socket}  pid ${unicorn.pid}  ${unicorn.url()}  (${why})\n`,
    });
    // Beside one of yours, both are listed, and neither is taken.
    const mine = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await mine.ready(1);
    const several = await ctl(['stats'], { env });
    expect(several.code).toBe(2);
    expect(several.stderr).toContain(`  ${socket}  pid ${unicorn.pid}  ${unicorn.url()}  (${why})\n`);
    expect(several.stderr).toContain(`  ${path.join(sockets, `${mine.pid}.sock`)}  pid ${mine.pid}  ${mine.url()}\n`);
  });

  it('is not used when it is writable by others: the server runs without a control socket', async () => {
    const { env, sockets } = runtimeDir();
    mkdirSync(sockets);
    chmodSync(sockets, 0o777);
    const unicorn = start(['-b', '127.0.0.1:0', ROUTES], { env });
    await unicorn.ready(1);
    const refusal = `${sockets} is writable by its group and others (mode 0777); expected mode 0700 (chmod 700 ${sockets})`;
    expect(unicorn.logs.find((l) => l.msg.startsWith('No control socket'))?.msg).toBe(
      `No control socket: ${refusal}; \`unicorn ctl\` cannot reach this server (give --control-socket PATH, or --no-control-socket)`,
    );
    expect(readdirSync(sockets)).toEqual([]);
    expect(await ctl(['status'], { env })).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: not looking for servers in ${sockets}: ${refusal}\n`,
    });
  });

  it('--no-control-socket makes no socket at all', async () => {
    const { dir, env, sockets } = runtimeDir();
    const unicorn = start(['-b', '127.0.0.1:0', '--no-control-socket', ROUTES], { env });
    await unicorn.ready(1);
    expect(existsSync(sockets)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    expect(unicorn.lines('Control socket at')).toHaveLength(0);
    expect((await ctl(['status'], { env })).stderr).toContain('no unicorn server found');
  });
});

describe('the control socket file', () => {
  it('left by a server that was killed is replaced; a live one is refused', async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    const killed = start(['-b', '127.0.0.1:0', '--control-socket', socket, ROUTES]);
    await killed.ready(1);
    await killed.kill();
    expect(statSync(socket).isSocket()).toBe(true);
    expect(await ctl(['--socket', socket, 'status'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: no unicorn server at ${socket}: nothing listens on it (the server that made it has exited)\n`,
    });

    const unicorn = start(['-b', '127.0.0.1:0', '--control-socket', socket, ROUTES]);
    await unicorn.ready(1);
    expect(unicorn.lines('Replacing the stale control socket')).toHaveLength(1);
    expect((await ctlStats(socket)).pid).toBe(unicorn.pid);

    const second = await runToExit(['-b', '127.0.0.1:0', '--control-socket', socket, ROUTES]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `unicorn: error: cannot listen at the control socket ${socket}: a server is already listening on it; stop it, or choose another --control-socket\n`,
    );
    expect((await ctlStats(socket)).pid).toBe(unicorn.pid);
  });

  it('refuses a path that is not a socket, and says when there is no server', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-socket');
    writeFileSync(file, 'data');
    const refused = await runToExit(['-b', '127.0.0.1:0', '--control-socket', file, ROUTES]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `cannot listen at the control socket ${file}: the path exists and is not a socket; remove it or choose another --control-socket\n`,
    );
    const missing = path.join(dir, 'missing.sock');
    expect(await ctl(['--socket', missing, 'status'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: no unicorn server at ${missing}: no such socket\n`,
    });
    // Connecting to a file that is not a socket fails as a dead socket does (ECONNREFUSED).
    expect(await ctl(['--socket', file, 'status'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: no unicorn server at ${file}: it is not a socket (a regular file)\n`,
    });
    expect(await ctl(['--socket', dir, 'reload'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: no unicorn server at ${dir}: it is not a socket (a directory)\n`,
    });
  });

  it('refuses a socket path too long for a unix socket, on both sides', async () => {
    const long = path.join(tempDir(), `${'x'.repeat(120)}.sock`);
    const why = `the path is ${Buffer.byteLength(long)} bytes long, and a unix socket's is at most 107`;
    const server = await runToExit(['-b', '127.0.0.1:0', '--control-socket', long, ROUTES]);
    expect({ code: server.code, stderr: server.stderr }).toEqual({
      code: 2,
      stderr: `unicorn: error: --control-socket ${JSON.stringify(long)} is not accepted: expected a socket path in an existing directory, or false (--no-control-socket) for none (${why})\n`,
    });
    expect(await ctl(['--socket', long, 'status'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `unicorn ctl: error: --socket ${JSON.stringify(long)} is not accepted: ${why}\n`,
    });
  });

  it('refuses an empty --socket as a usage error', async () => {
    for (const empty of ['', ' ']) {
      expect(await ctl(['--socket', empty, 'status'])).toEqual({
        code: 2,
        stdout: '',
        stderr: `unicorn ctl: error: --socket ${JSON.stringify(empty)} is not accepted: expected the path of a control socket\n`,
      });
    }
  });

  it('refuses another user: permission denied', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    // The directory is searchable by all, so the socket's own mode is what refuses.
    chmodSync(path.dirname(socket), 0o755);
    let run: CtlRun;
    if (process.getuid!() === 0) {
      // As root, which no mode refuses, the client runs as nobody.
      run = await ctl(['--socket', socket, 'status'], { uid: NOBODY });
      expect(run.stderr).toContain(`and this is uid ${NOBODY}`);
    } else {
      chmodSync(socket, 0o000);
      run = await ctl(['--socket', socket, 'status']);
    }
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^unicorn ctl: error: permission denied for ${socket}: a control socket is for the user the server runs as \\(mode 0600\\); it belongs to uid ${process.getuid!()}`,
      ),
    );
    expect(isAlive(unicorn.pid)).toBe(true);
  });

  it('names the directory on the way to --socket that cannot be entered', async () => {
    // A 0700 directory of root's, which nobody cannot enter; not being root, one of mode 0000.
    const dir = tempDir();
    const asRoot = process.getuid!() === 0;
    if (!asRoot) chmodSync(dir, 0o000);
    const socket = path.join(dir, 'ctl.sock');
    const uid = asRoot ? NOBODY : process.getuid!();
    expect(await ctl(['--socket', socket, 'status'], { uid: asRoot ? NOBODY : undefined })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `unicorn ctl: error: cannot reach ${socket}: cannot enter ${dir} as uid ${uid}: it has mode ${asRoot ? '0700' : '0000'} and belongs to uid ${process.getuid!()}; ` +
        `let that user search it with chmod o+x ${dir}, or give --socket a path outside it\n`,
    });
  });

  it('with --control-socket PATH, passes to the arbiter USR2 starts, which the old one leaves in place', async () => {
    const { unicorn, socket } = await serveWithSocket(1);
    unicorn.signal('SIGUSR2');
    const taken = await unicorn.waitForLog(
      (l) => l.msg.startsWith('Taking over the control socket'),
      'the new arbiter taking the socket over',
    );
    await unicorn.waitForLog((l) => l.pid === taken.pid && l.msg === `Control socket at ${socket}`, 'the new arbiter listening');
    await unicorn.waitForLog((l) => l.pid === taken.pid && /^Worker \(pid:\d+\) ready$/.test(l.msg), 'the new arbiter’s worker');
    expect((await ctlStats(socket)).pid).toBe(taken.pid);
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone([unicorn.pid])).toEqual([]);
    // The old arbiter did not remove the new one's socket at exit.
    const after = await ctlStats(socket);
    expect(after.pid).toBe(taken.pid);
    expect(ready(after)).toHaveLength(1);
  });
});

describe('unicorn ctl refusals', () => {
  it('name an unknown command with the nearest one, and exit 2', async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    expect(await ctl(['--socket', socket, 'stauts'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'unicorn ctl: error: unknown command "stauts" (did you mean "status"?); the commands are status, stats, vassals, reload, stop, start, scale, add, remove, kill, reopen-logs, shutdown\n',
    });
    const help = await ctl(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: unicorn ctl \[options\] \[command\]/);
    for (const command of [
      'status',
      'stats',
      'vassals',
      'reload [NAME]',
      'stop <NAME>',
      'start <NAME>',
      'scale <N>',
      'add [N]',
      'remove [N]',
      'kill <PID>',
      'reopen-logs',
      'shutdown',
    ]) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    expect((await ctl([])).code).toBe(2);
  });
});
