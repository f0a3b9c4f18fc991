/**
 * `unicorn ctl` against an emperor's control socket (src/emperor/control.ts), served by a stand-in
 * emperor over fake vassals (test/fixtures/emperor/stand-in.js) for what each command prints, what
 * the emperor is asked to do, and the refusals of the other role's commands, both ways; and once
 * against the real emperor.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { VassalSummary } from '../../src/shared/vassal-summary';
import { ctl } from '../helpers/ctl';
import { ask, startEmperor, vassalDir, vassalPid, waitForAnswer } from '../helpers/emperor';
import { APPS, ROOT, start, Unicorn, waitUntilGone } from '../helpers/unicorn';

const STAND_IN = path.join(ROOT, 'test', 'fixtures', 'emperor', 'stand-in.js');
const MB = 1024 * 1024;

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-emperor-'));

function vassals(now: number, serving = 5001): VassalSummary[] {
  const base = { onDemand: false, reason: null, restarts: 0, since: now - 60_000 };
  return [
    {
      ...base,
      name: 'site-b',
      file: '/apps/site-b.config.mjs',
      state: 'put-aside',
      pid: null,
      workers: 0,
      rss: 0,
      requests: 0,
      lastRequestAt: null,
      reason: 'the app does not load: Cannot find module ./app.js',
      restarts: 5,
    },
    {
      ...base,
      name: 'site-a',
      file: '/apps/site-a.config.mjs',
      state: 'serving',
      pid: serving,
      workers: 2,
      rss: 96 * MB,
      requests: 1234,
      lastRequestAt: now - 185_000,
    },
    {
      ...base,
      name: 'site-c',
      file: '/apps/site-c.config.mjs',
      state: 'idle',
      onDemand: true,
      pid: null,
      workers: 0,
      rss: 0,
      requests: 7,
      lastRequestAt: now - 3_700_000,
    },
  ];
}

/** The stand-in emperor, serving at `socket` (undefined: the default place); resolves once it listens. */
async function emperor(socket: string | undefined, list: VassalSummary[], env: NodeJS.ProcessEnv = {}): Promise<Unicorn> {
  const proc = spawn(process.execPath, [STAND_IN, ...(socket ? [socket] : [])], {
    env: { ...process.env, ...env, STAND_IN_VASSALS: JSON.stringify(list) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stand = new Unicorn(proc);
  await stand.waitForOutput('serving ');
  return stand;
}

async function withEmperor(list = vassals(Date.now())) {
  const socket = path.join(tempDir(), 'emperor.sock');
  return { socket, stand: await emperor(socket, list) };
}

describe('ctl against an emperor', () => {
  it('status and vassals show the table by name, the counts by state and the reasons; --json the vassals as they are', async () => {
    const list = vassals(Date.now());
    const { socket, stand } = await withEmperor(list);
    const status = await ctl(['--socket', socket, 'status']);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^unicorn \\S+ emperor \\(pid ${stand.pid}\\), up \\S+: 3 vassals: 1 serving, 1 idle, 1 put-aside$`),
    );
    expect(lines[1]).toBe('Workers: 2, memory 96MB');
    const header = lines[3]!;
    expect(header.split(/\s+/)).toEqual(['NAME', 'STATE', 'WORKERS', 'MEM', 'REQUESTS', 'LAST-REQUEST', 'PID']);
    const rows = lines.slice(4, 7).map((line) => line.split(/\s{2,}/));
    expect(rows).toEqual([
      ['site-a', 'serving', '2', '96MB', '1234', expect.stringMatching(/^3m0\ds ago$/), '5001'],
      ['site-b', 'put-aside', '0', '-', '0', '-', '-'],
      ['site-c', 'idle', '0', '-', '7', expect.stringMatching(/^1h0\dm ago$/), '-'],
    ]);
    // Every column starts where its header does.
    for (const column of ['STATE', 'MEM', 'LAST-REQUEST', 'PID'])
      expect(lines.slice(4, 7).map((line) => line[header.indexOf(column) - 1] === ' ' && line[header.indexOf(column)] !== ' ')).toEqual([
        true,
        true,
        true,
      ]);
    expect(lines.slice(7)).toEqual(['', 'site-b: put-aside: the app does not load: Cannot find module ./app.js', '']);
    const timeless = (text: string) => text.replace(/up \S+:/, 'up T:').replace(/\d+[hm]\d+[ms] ago/g, 'T ago');
    expect(timeless((await ctl(['--socket', socket, 'vassals'])).stdout)).toBe(timeless(status.stdout));

    for (const args of [
      ['status', '--json'],
      ['vassals', '--json'],
    ]) {
      const json = await ctl(['--socket', socket, ...args]);
      expect(json).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(json.stdout)).toEqual(list);
    }
    const stats = await ctl(['--socket', socket, 'stats']);
    expect(stats.stdout).toContain(`pid ${stand.pid}\n`);
    expect(stats.stdout).toContain('vassals 3\nvassals_starting 0\nvassals_serving 1\nvassals_idle 1\n');
    expect(stats.stdout).toContain('workers 2\nrss_bytes 100663296\nrequests 1241\nrestarts 5\n');
    expect(JSON.parse((await ctl(['--socket', socket, 'stats', '--json'])).stdout)).toMatchObject({ pid: stand.pid, vassals: list });
  });

  it('reload NAME, stop NAME, start NAME and reload ask the emperor, print its answer, and name an unknown vassal', async () => {
    const { socket, stand } = await withEmperor();
    expect(await ctl(['--socket', socket, 'reload', 'site-a'])).toEqual({ code: 0, stdout: 'reload: site-a is serving\n', stderr: '' });
    expect(await ctl(['--socket', socket, 'stop', 'site-a'])).toEqual({ code: 0, stdout: 'stop: site-a is stopped\n', stderr: '' });
    expect(await ctl(['--socket', socket, 'start', 'site-b'])).toEqual({ code: 0, stdout: 'start: site-b is starting\n', stderr: '' });
    expect(await ctl(['--socket', socket, 'reload'])).toEqual({ code: 0, stdout: 'Reloading 3 vassals\n', stderr: '' });
    expect(stand.stdout).toContain('called reload site-a\ncalled stop site-a\ncalled start site-b\ncalled reloadAll\n');
    const vassalsNow = JSON.parse((await ctl(['--socket', socket, 'vassals', '--json'])).stdout) as VassalSummary[];
    expect(vassalsNow.map((v) => [v.name, v.state])).toEqual([
      ['site-b', 'starting'],
      ['site-a', 'stopped'],
      ['site-c', 'idle'],
    ]);

    for (const command of ['stop', 'reload'])
      expect(await ctl(['--socket', socket, command, 'site-x'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'unicorn ctl: error: no vassal named "site-x"; the vassals are site-b, site-a, site-c\n',
      });
    // A refusal thrown at once is a refusal too, and the emperor serves on.
    expect((await ctl(['--socket', socket, 'status'])).code).toBe(0);
    expect(await ctl(['--socket', socket, 'start', 'a/b'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'unicorn ctl: error: start "a/b" is not accepted: expected the name of a vassal: ' +
        "its config file's name less .config.EXT (unicorn ctl vassals lists them)\n",
    });
    expect((await ctl(['--socket', socket, 'stop'])).stderr).toBe("unicorn ctl: error: missing required argument 'NAME'\n");
    await stand.waitForLog((l) => l.msg === 'Handling control command: reload site-a', 'the command in the log');
    await stand.waitForLog((l) => l.msg === 'Handling control command: reload (every vassal)', 'reload without a name in the log');
  });

  it("refuses a single server's commands, saying it is an emperor and what it takes", async () => {
    const { socket, stand } = await withEmperor();
    for (const args of [['scale', '2'], ['add'], ['remove'], ['kill', '4001'], ['reopen-logs']]) {
      expect(await ctl(['--socket', socket, ...args])).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `unicorn ctl: error: ${args[0]} is for a single server, and this is an emperor (pid ${stand.pid}): send it to a ` +
          "vassal's own control socket with --socket; the emperor's commands are stats, reload [NAME], stop NAME, start NAME, shutdown\n",
      });
    }
    expect(stand.stdout).not.toContain('called');
  });

  it('shutdown returns once the emperor has exited', async () => {
    const { socket, stand } = await withEmperor();
    const run = await ctl(['--socket', socket, 'shutdown', '--quick']);
    expect(run).toEqual({
      code: 0,
      stdout: `Shutting down quickly (pid ${stand.pid}): stopping 3 vassals\nThe server has exited\n`,
      stderr: '',
    });
    expect(await waitUntilGone([stand.pid], 1000)).toEqual([]);
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
    const vassal = start(['-b', '127.0.0.1:0', '-w', '1', path.join(APPS, 'routes.js')], { env });
    await vassal.ready(1);
    const stand = await emperor(undefined, vassals(Date.now(), vassal.pid), env);
    expect(stand.stdout).toContain(`serving ${path.join(dir, 'unicorn', `${stand.pid}.sock`)}\n`);
    const found = await ctl(['status'], { env });
    expect(found).toMatchObject({ code: 0, stderr: '' });
    expect(found.stdout).toContain(`emperor (pid ${stand.pid})`);

    // A server that is no vassal of it is another server: ctl asks which.
    const other = start(['-b', '127.0.0.1:0', '-w', '1', path.join(APPS, 'routes.js')], { env });
    await other.ready(1);
    const several = await ctl(['status'], { env });
    expect(several.code).toBe(2);
    expect(several.stderr).toContain(`  ${path.join(dir, 'unicorn', `${stand.pid}.sock`)}  pid ${stand.pid}  emperor of 3 vassals\n`);
    expect(several.stderr).toContain(`pid ${other.pid}  ${other.url()}\n`);
    expect(several.stderr).not.toContain(`pid ${vassal.pid} `);
  });
});

describe('the real emperor', () => {
  it('is listed, reloaded, stopped and started by name, refuses an unknown name and serves on, and shuts down', async () => {
    const vassalsDir = vassalDir();
    vassalsDir.write('site-a');
    vassalsDir.write('site-b');
    const socket = path.join(tempDir(), 'emperor.sock');
    const real = startEmperor(vassalsDir.dir, ['--control-socket', socket]);
    await Promise.all(['site-a', 'site-b'].map((name) => waitForAnswer(vassalsDir.socket(name))));
    const listed = async () => JSON.parse((await ctl(['--socket', socket, 'vassals', '--json'])).stdout) as VassalSummary[];
    expect((await listed()).map((v) => [v.name, v.state, v.pid])).toEqual([
      ['site-a', 'serving', vassalPid(real, 'site-a')],
      ['site-b', 'serving', vassalPid(real, 'site-b')],
    ]);

    expect(await ctl(['--socket', socket, 'reload', 'site-x'])).toMatchObject({
      code: 1,
      stderr: 'unicorn ctl: error: no vassal named "site-x"; the vassals are site-a, site-b\n',
    });
    expect((await ctl(['--socket', socket, 'stop', 'site-b'])).code).toBe(0);
    expect((await listed()).find((v) => v.name === 'site-b')).toMatchObject({ state: 'stopped', pid: null });
    expect((await ctl(['--socket', socket, 'start', 'site-b'])).code).toBe(0);
    await waitForAnswer(vassalsDir.socket('site-b'));
    expect((await ctl(['--socket', socket, 'reload', 'site-a'])).code).toBe(0);
    expect((await ask(vassalsDir.socket('site-a'))).name).toBe('site-a');

    const pids = real.allPids();
    const run = await ctl(['--socket', socket, 'shutdown']);
    expect(run).toEqual({
      code: 0,
      stdout: `Shutting down gracefully (pid ${real.pid}): stopping 2 vassals\nThe server has exited\n`,
      stderr: '',
    });
    expect(await waitUntilGone(pids, 5000)).toEqual([]);
  });
});
