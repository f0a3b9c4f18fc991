/**
 * `unicorn ctl` against the real `unicorn emperor`'s control socket (src/emperor/control.ts): the
 * table, --json and stats with each state made for real (serving, idle on demand, put aside for a
 * broken file, waiting under --max-workers), reload/stop/start by name and reload of all with their
 * effect, shutdown, and the refusals of the other role's commands, both ways. (A failed vassal as ctl
 * shows it: vassal.test.ts.)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { VassalSummary } from '../../src/shared/vassal-summary';
import { ctl } from '../helpers/ctl';
import { aboutVassal, ask, listVassals, startEmperor, vassalDir, vassalPid, waitForAnswer, waitForListed } from '../helpers/emperor';
import { APPS, start, waitUntilGone } from '../helpers/unicorn';

/** A LAST-REQUEST cell: `320ms ago`, `12s ago`, `3m05s ago`. */
const AGO = expect.stringMatching(/^\d[\dhms.]* ago$/);
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-emperor-'));

describe('ctl against an emperor', () => {
  it('shows the table by name with the counts by state and the reasons, the same as --json and stats; acts on a vassal by name and on all; refuses an unknown name; shuts down', async () => {
    const vassals = vassalDir();
    vassals.write('site-a', { workers: 2 });
    vassals.write('site-b', { workers: 'many' });
    vassals.write('site-c', { onDemand: true, idleTimeout: '300ms' });
    const socket = path.join(vassals.sockets, 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket, '--max-workers', '3']);
    await waitForAnswer(vassals.socket('site-a'));
    // On demand: asked once, then idle again, its request counted.
    await emperor.waitForLog((l) => aboutVassal('site-c')(l) && l.msg.includes('waits for its first connection'), 'site-c held');
    expect((await ask(vassals.socket('site-c'))).name).toBe('site-c');
    await emperor.waitForLog((l) => aboutVassal('site-c')(l) && l.msg.includes('left while idle'), 'site-c left');
    await waitForListed(socket, 'site-a', (v) => v.requests >= 1, 'listed with its request counted');
    // 2 workers serving and 2 more asked for, under a limit of 3, with no on-demand vassal running to stop: it waits.
    vassals.write('site-d', { workers: 2 });
    const waits = await emperor.waitForLog((l) => aboutVassal('site-d')(l) && l.level === 'warn', 'site-d waiting');
    expect(waits.msg).toMatch(/site-d .*the host limit of 3 workers/);
    const siteA = vassalPid(emperor, 'site-a');

    const status = await ctl(['--socket', socket, 'status']);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^unicorn \\S+ emperor \\(pid ${emperor.pid}\\), up \\S+: 4 vassals: 1 serving, 1 idle, 1 put-aside, 1 waiting$`),
    );
    expect(lines[1]).toMatch(/^Workers: 2, memory \d+(\.\d+)?MB$/);
    const header = lines[3]!;
    expect(header.split(/\s+/)).toEqual(['NAME', 'STATE', 'WORKERS', 'MEM', 'REQUESTS', 'LAST-REQUEST', 'PID']);
    const rows = lines.slice(4, 8).map((line) => line.split(/\s{2,}/));
    expect(rows).toEqual([
      ['site-a', 'serving', '2', expect.stringMatching(/^\d+(\.\d+)?MB$/), expect.stringMatching(/^[1-9]\d*$/), AGO, String(siteA)],
      ['site-b', 'put-aside', '0', '-', '0', '-', '-'],
      ['site-c', 'idle', '0', '-', '1', AGO, '-'],
      ['site-d', 'waiting', '0', '-', '0', '-', '-'],
    ]);
    // Every column starts where its header does.
    for (const column of ['STATE', 'MEM', 'LAST-REQUEST', 'PID'])
      expect(lines.slice(4, 8).map((line) => line[header.indexOf(column) - 1] === ' ' && line[header.indexOf(column)] !== ' ')).toEqual([
        true,
        true,
        true,
        true,
      ]);
    expect(lines.slice(8)).toEqual([
      '',
      expect.stringMatching(/^site-b: put-aside: site-b\.config\.json: workers "many" is not accepted: /),
      '',
    ]);
    const timeless = (text: string) => text.replace(/up \S+:/, 'up T:').replace(/\d[\dhms.]* ago/g, 'T ago');
    expect(timeless((await ctl(['--socket', socket, 'vassals'])).stdout)).toBe(timeless(status.stdout));

    const list = await listVassals(socket);
    expect(list.map((v) => [v.name, v.state, v.onDemand, v.pid])).toEqual([
      ['site-a', 'serving', false, siteA],
      ['site-b', 'put-aside', false, null],
      ['site-c', 'idle', true, null],
      ['site-d', 'waiting', false, null],
    ]);
    const statusJson = await ctl(['--socket', socket, 'status', '--json']);
    expect(statusJson).toMatchObject({ code: 0, stderr: '' });
    const timelessJson = (vassalList: VassalSummary[]) => vassalList.map(({ rss: _, since: __, ...rest }) => rest);
    expect(timelessJson(JSON.parse(statusJson.stdout))).toEqual(timelessJson(list));
    const stats = await ctl(['--socket', socket, 'stats']);
    expect(stats.stdout).toContain(`pid ${emperor.pid}\n`);
    expect(stats.stdout).toContain('vassals 4\nvassals_starting 0\nvassals_serving 1\nvassals_idle 1\n');
    const totals = stats.stdout.match(/\nworkers 2\nrss_bytes [1-9]\d*\nrequests (\d+)\nrestarts 0\n/);
    expect(Number(totals?.[1])).toBe(list.reduce((sum, v) => sum + v.requests, 0));
    expect(JSON.parse((await ctl(['--socket', socket, 'stats', '--json'])).stdout)).toMatchObject({
      pid: emperor.pid,
      vassals: expect.any(Array),
    });

    // By name: reload HUPs it; stop makes room, and the waiting one starts; start waits in turn.
    expect(await ctl(['--socket', socket, 'reload', 'site-a'])).toEqual({ code: 0, stdout: 'vassal site-a reloading\n', stderr: '' });
    await emperor.waitForLog((l) => aboutVassal('site-a')(l) && l.msg === 'Vassal site-a reloading (HUP)', 'site-a reloading');
    expect(await ctl(['--socket', socket, 'stop', 'site-a'])).toEqual({ code: 0, stdout: 'vassal site-a stopped\n', stderr: '' });
    expect(await waitUntilGone([siteA])).toEqual([]);
    expect((await waitForAnswer(vassals.socket('site-d'))).name).toBe('site-d');
    expect(await ctl(['--socket', socket, 'start', 'site-a'])).toEqual({ code: 0, stdout: 'vassal site-a is waiting\n', stderr: '' });
    // All: the running one HUPed, the others started afresh (the broken file refused again, the waiting one waits).
    expect(await ctl(['--socket', socket, 'reload'])).toEqual({ code: 0, stdout: '4 vassals reloaded\n', stderr: '' });
    await emperor.waitForLog((l) => aboutVassal('site-d')(l) && l.msg === 'Vassal site-d reloading (HUP)', 'site-d reloading');
    expect((await listVassals(socket)).map((v) => [v.name, v.state])).toEqual([
      ['site-a', 'waiting'],
      ['site-b', 'put-aside'],
      ['site-c', 'idle'],
      ['site-d', expect.stringMatching(/^(starting|serving)$/)],
    ]);
    await emperor.waitForLog((l) => l.msg === 'Handling control command: reload site-a', 'the command in the log');
    await emperor.waitForLog((l) => l.msg === 'Handling control command: reload (every vassal)', 'reload without a name in the log');

    for (const command of ['stop', 'reload'])
      expect(await ctl(['--socket', socket, command, 'site-x'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'unicorn ctl: error: no vassal named "site-x"; the vassals are site-a, site-b, site-c, site-d\n',
      });
    expect(await ctl(['--socket', socket, 'start', 'a/b'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'unicorn ctl: error: start "a/b" is not accepted: expected the name of a vassal: ' +
        "its config file's name less .config.EXT (unicorn ctl vassals lists them)\n",
    });
    expect((await ctl(['--socket', socket, 'stop'])).stderr).toBe("unicorn ctl: error: missing required argument 'NAME'\n");
    // Refused, and the emperor serves on.
    expect((await ask(vassals.socket('site-d'))).name).toBe('site-d');

    const pids = emperor.allPids();
    expect(await ctl(['--socket', socket, 'shutdown'])).toEqual({
      code: 0,
      stdout: `Shutting down gracefully (pid ${emperor.pid}): stopping 4 vassals\nThe server has exited\n`,
      stderr: '',
    });
    expect(await emperor.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone(pids)).toEqual([]);
  }, 40_000);

  it("refuses a single server's commands, saying it is an emperor and what it takes; shutdown --quick returns once it has exited", async () => {
    const vassals = vassalDir();
    vassals.write('site-a', { onDemand: true });
    const socket = path.join(vassals.sockets, 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket]);
    await emperor.waitForLog((l) => aboutVassal('site-a')(l) && l.msg.includes('waits for its first connection'), 'site-a held');
    for (const args of [['scale', '2'], ['add'], ['remove'], ['kill', '4001'], ['reopen-logs']]) {
      expect(await ctl(['--socket', socket, ...args])).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `unicorn ctl: error: ${args[0]} is for a single server, and this is an emperor (pid ${emperor.pid}): send it to a ` +
          "vassal's own control socket with --socket; the emperor's commands are stats, reload [NAME], stop NAME, start NAME, shutdown\n",
      });
    }
    expect(emperor.lines('Handling control command')).toEqual([]);
    expect(await ctl(['--socket', socket, 'shutdown', '--quick'])).toEqual({
      code: 0,
      stdout: `Shutting down quickly (pid ${emperor.pid}): stopping 1 vassal\nThe server has exited\n`,
      stderr: '',
    });
    expect(await emperor.exited).toEqual({ code: 0, signal: null });
  });
});

describe('an arbiter', () => {
  it("refuses an emperor's commands, saying it is a single server and what it takes", async () => {
    const socket = path.join(tempDir(), 'ctl.sock');
    const arbiter = start(['-b', '127.0.0.1:0', '-w', '1', '--control-socket', socket, path.join(APPS, 'routes.js')]);
    await arbiter.ready(1);
    const commands = 'its commands are stats, reload, scale, add, remove, kill, reopen-logs, shutdown';
    const forEmperor =
      'is for an emperor (unicorn emperor DIR), which runs a server per vassal; ' +
      `this is a single server (an arbiter, pid ${arbiter.pid})`;
    expect(await ctl(['--socket', socket, 'reload', 'site-a'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `unicorn ctl: error: reload NAME ${forEmperor} (\`reload\` without a name reloads this one): ${commands}\n`,
    });
    for (const command of ['stop', 'start'])
      expect((await ctl(['--socket', socket, command, 'site-a'])).stderr).toBe(
        `unicorn ctl: error: ${command} NAME ${forEmperor}: ${commands}\n`,
      );
    expect(await ctl(['--socket', socket, 'vassals'])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `unicorn ctl: error: the server at ${socket} is a single server (an arbiter, pid ${arbiter.pid}), not an emperor: ` +
        'it has no vassals; unicorn ctl status shows its workers\n',
    });
    expect(arbiter.lines('Reload')).toEqual([]);
  });
});

describe('the default place', () => {
  it("finds the emperor without --socket, its vassals' own sockets beside it not counting as other servers", async () => {
    const dir = tempDir();
    const env = { XDG_RUNTIME_DIR: dir };
    const vassals = vassalDir();
    vassals.write('site-a');
    const emperor = startEmperor(vassals.dir, [], { env });
    await waitForAnswer(vassals.socket('site-a'));
    const vassal = vassalPid(emperor, 'site-a');
    const placed = path.join(dir, 'unicorn', `${emperor.pid}.sock`);
    expect(emperor.lines('Control socket at ').map((l) => l.msg)).toEqual([
      `Control socket at ${placed}`,
      `Control socket at ${path.join(dir, 'unicorn', `${vassal}.sock`)}`,
    ]);
    const found = await ctl(['status'], { env });
    expect(found).toMatchObject({ code: 0, stderr: '' });
    expect(found.stdout).toContain(`emperor (pid ${emperor.pid})`);

    // A server that is no vassal of it is another server: ctl asks which.
    const other = start(['-b', '127.0.0.1:0', '-w', '1', path.join(APPS, 'routes.js')], { env });
    await other.ready(1);
    const several = await ctl(['status'], { env });
    expect(several.code).toBe(2);
    expect(several.stderr).toContain(`  ${placed}  pid ${emperor.pid}  emperor of 1 vassal\n`);
    expect(several.stderr).toContain(`pid ${other.pid}  ${other.url()}\n`);
    expect(several.stderr).not.toContain(`pid ${vassal} `);
  });
});
