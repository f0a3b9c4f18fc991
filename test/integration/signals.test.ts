import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inFlight, request } from '../helpers/http';
import { Load } from '../helpers/load';
import { APPS, childPids, isAlive, runToExit, serve, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-'));

/** Live worker pids, waiting until there are `count` of them. */
async function workersSettle(unicorn: Unicorn, count: number): Promise<number[]> {
  await unicorn.waitForLog(() => unicorn.workerPids().length === count, `${count} live workers`);
  return unicorn.workerPids();
}

/** An app whose reply names its version, copied where a test can deploy a new one. */
function deployable(version: string): string {
  const file = path.join(tempDir(), 'app.js');
  writeFileSync(file, appSource(version));
  return file;
}

const appSource = (version: string) => `module.exports = (req, res) => res.end('version ${version} ' + process.pid + '\\n');\n`;

describe('HUP reload', () => {
  it.each([
    ['keep-alive', true, 'async'],
    ['Connection: close', false, 'sync'],
  ])('5 reloads under a %s load fail no request and refuse no connection', async (_, keepAlive, workerClass) => {
    const app = deployable('1');
    const unicorn = await serve(app, ['-k', workerClass as string], { workers: 2 });
    const load = await Load.start(unicorn.url(), { keepAlive: keepAlive as boolean });
    await load.flowing();
    for (let i = 1; i <= 5; i++) {
      unicorn.signal('SIGHUP');
      await unicorn.waitForLog(() => unicorn.lines('Reload complete').length === i, `reload ${i}`);
      await load.flowing(20);
    }
    await workersSettle(unicorn, 2);
    const counts = await load.stop();
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    expect(counts.ok).toBeGreaterThan(200);
    if (keepAlive) expect(counts.reusedConnections).toBeGreaterThan(counts.ok / 2);
    expect(unicorn.lines('Booting worker')).toHaveLength(12);
  });

  it('serves the new code once every new worker is ready, and only then stops the old ones', async () => {
    const app = deployable('1');
    const unicorn = await serve(app, [], { workers: 2 });
    const before = await workersSettle(unicorn, 2);
    writeFileSync(app, appSource('2'));
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    const complete = unicorn.logs.findIndex((l) => l.msg.startsWith('Reload complete'));
    const readies = unicorn.logs
      .map((l, i) => [l, i] as const)
      .filter(([l]) => /^Worker \(pid:\d+\) ready$/.test(l.msg))
      .map(([, i]) => i);
    expect(readies).toHaveLength(4);
    expect(Math.max(...readies)).toBeLessThan(complete);
    await unicorn.waitForLog(() => unicorn.lines('Worker (pid:').filter((l) => l.code === 0).length === 2, 'the old workers gone');
    const oldGone = unicorn.logs.map((l, i) => [l, i] as const).filter(([l]) => before.includes(l.workerPid as number) && l.code === 0);
    expect(oldGone).toHaveLength(2);
    expect(oldGone.every(([, i]) => i > complete)).toBe(true);
    expect((await request(unicorn.url())).body).toMatch(/^version 2 /);
  });

  it('keeps the old workers serving when the new code fails to load, and reloads once it is fixed', async () => {
    const app = deployable('1');
    const unicorn = await serve(app, [], { workers: 2 });
    const before = await workersSettle(unicorn, 2);
    const load = await Load.start(unicorn.url(), { keepAlive: false });
    writeFileSync(app, 'module.exports = (req, res) => {\n  res.end("broken"\n};\n');
    unicorn.signal('SIGHUP');
    const failed = await unicorn.waitForLog((l) => l.msg.startsWith('Reload failed'), 'the failed reload');
    expect(failed.msg).toMatch(/^Reload failed: worker \(pid:\d+\) exited with code 4; the previous workers keep serving$/);
    expect(unicorn.logs.some((l) => l.role === 'worker' && /SyntaxError|app\.js:\d/.test(l.msg))).toBe(true);
    await load.flowing();
    expect(isAlive(unicorn.pid)).toBe(true);
    expect(await workersSettle(unicorn, 2)).toEqual(before);
    expect((await request(unicorn.url())).body).toMatch(/^version 1 /);

    writeFileSync(app, appSource('3'));
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the fixed reload');
    await load.flowing();
    expect(await load.stop()).toMatchObject({ failed: 0, refused: 0 });
    expect((await request(unicorn.url())).body).toMatch(/^version 3 /);
  });

  it('fails the reload when a new worker does not boot within --worker-boot-timeout', async () => {
    const app = deployable('1');
    const unicorn = await serve(app, ['--worker-boot-timeout', '1s'], { workers: 2 });
    const before = await workersSettle(unicorn, 2);
    writeFileSync(app, 'function spinWhileLoading() { while (true) {} }\nspinWhileLoading();\n');
    unicorn.signal('SIGHUP');
    const failed = await unicorn.waitForLog((l) => l.msg.startsWith('Reload failed'), 'the failed reload');
    expect(failed.msg).toMatch(
      /^Reload failed: worker \(pid:\d+\) did not boot within --worker-boot-timeout; the previous workers keep serving$/,
    );
    const stuck = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER BOOT TIMEOUT'), 'the diagnosis');
    expect(stuck.msg).toMatch(/stuck in spinWhileLoading \(.*app\.js:1:\d+\)/);
    expect(await workersSettle(unicorn, 2)).toEqual(before);
    expect((await request(unicorn.url())).body).toMatch(/^version 1 /);
  });

  it('after a failed reload, a replacement that cannot load the code on disk does not stop the server', async () => {
    const app = deployable('1');
    const unicorn = await serve(app, ['--max-requests', '20'], { workers: 2 });
    writeFileSync(app, 'module.exports = (req, res) => {\n  res.end("broken"\n};\n');
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload failed'), 'the failed reload');
    // Past --max-requests the workers ask to be replaced; their replacements fail to load.
    const load = await Load.start(unicorn.url(), { keepAlive: false, concurrency: 2 });
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('App failed to load in a new worker'), 'a replacement failing');
    expect(line.msg).toMatch(/; 2 workers that loaded it earlier serve on$/);
    await load.flowing();
    expect(await load.stop()).toMatchObject({ failed: 0, refused: 0 });
    expect(isAlive(unicorn.pid)).toBe(true);
  });

  it('TERM during a reload stops the old and the new workers and exits 0', async () => {
    const unicorn = await serve(path.join(APPS, 'supervised.mjs'), [], { workers: 2, env: { BOOT_WAIT_MS: '500' } });
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog(() => unicorn.lines('Booting worker').length === 4, 'the new workers booting');
    const workers = unicorn.workerPids();
    expect(workers).toHaveLength(4);
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone(workers)).toEqual([]);
    expect(unicorn.lines('Reload complete')).toHaveLength(0);
  });

  it('queues a HUP that arrives during a reload instead of interleaving it', async () => {
    const unicorn = await serve(path.join(APPS, 'supervised.mjs'), [], { workers: 2, env: { BOOT_WAIT_MS: '300' } });
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reloading'), 'the first reload');
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog(() => unicorn.lines('Reload complete').length === 2, 'two reloads');
    const order = unicorn.logs
      .filter((l) => /^(Reloading|Reload complete|A reload is in progress)/.test(l.msg))
      .map((l) => l.msg.split(':')[0]!.split(';')[0]);
    expect(order).toEqual(['Reloading', 'A reload is in progress', 'Reload complete', 'Reloading', 'Reload complete']);
    expect(await workersSettle(unicorn, 2)).toHaveLength(2);
  });
});

describe('TTIN, TTOU and WINCH', () => {
  it('TTIN adds a worker, TTOU removes one, never below one', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    unicorn.signal('SIGTTIN');
    expect(await workersSettle(unicorn, 3)).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      unicorn.signal('SIGTTOU');
      await unicorn.waitForLog(() => unicorn.lines('Handling signal: ttou').length === i + 1, `TTOU ${i + 1}`);
    }
    const refusal = 'remove 1 is not accepted: the server runs 1 worker, and never goes below one';
    await unicorn.waitForLog((l) => l.msg === refusal, 'the third TTOU refused');
    expect(await workersSettle(unicorn, 1)).toHaveLength(1);
    expect(unicorn.lines('Number of workers: ').map((l) => l.msg)).toEqual([
      'Number of workers: 3 (was 2)',
      'Number of workers: 2 (was 3)',
      'Number of workers: 1 (was 2)',
    ]);
    expect((await request(unicorn.url())).status).toBe(200);
  });

  it('WINCH stops the workers but keeps the arbiter and its sockets; TTIN brings one back', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    unicorn.signal('SIGWINCH');
    await workersSettle(unicorn, 0);
    // Connections wait in the backlog, not refused, until a worker is back.
    const waiting = request(unicorn.url());
    unicorn.signal('SIGTTIN');
    expect((await waiting).status).toBe(200);
  });
});

describe('stop signals', () => {
  it('a second TERM makes a graceful stop quick', async () => {
    const unicorn = await serve(ROUTES);
    const held = inFlight(`${unicorn.url()}/hold?ms=20000`);
    await held.handling;
    const began = Date.now();
    unicorn.signal('SIGTERM');
    await unicorn.waitForLog((l) => l.msg === 'Handling signal: term', 'the first TERM');
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - began).toBeLessThan(5000); // not --graceful-timeout's 30 s
    expect(await held.reply).toHaveProperty('error');
  });
});

describe('USR1', () => {
  it('tells the arbiter and every worker to reopen their logs', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const workers = unicorn.workerPids();
    unicorn.signal('SIGUSR1');
    await unicorn.waitForLog(() => unicorn.lines('Reopening log files').length === 3, 'three processes reopening');
    expect(new Set(unicorn.lines('Reopening log files').map((l) => l.pid))).toEqual(new Set([unicorn.pid, ...workers]));
    expect(unicorn.workerPids().sort()).toEqual(workers.sort());
  });
});

describe('USR2 re-exec', () => {
  it('the new arbiter takes over the pidfile even when the old one is gone before it has started', async () => {
    const pidfile = path.join(tempDir(), 'u.pid');
    const unicorn = await serve(ROUTES, ['-p', pidfile]);
    unicorn.signal('SIGUSR2');
    const successor = (await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec')).successorPid as number;
    unicorn.signal('SIGQUIT');
    await unicorn.exited;
    await unicorn.waitForLog((l) => l.pid === successor && l.msg.startsWith('Took over the pidfile'), 'the pidfile taken over');
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(successor));
    await unicorn.waitForLog((l) => l.pid === successor && /^Worker \(pid:\d+\) ready$/.test(l.msg), 'the new arbiter serving');
    expect((await request(unicorn.url())).status).toBe(200);
    // A later USR2 is taken: no arbiter is left to wait for.
    process.kill(successor, 'SIGUSR2');
    await unicorn.waitForLog((l) => l.pid === successor && l.msg.startsWith('Re-executing'), 'a second re-exec');
  });

  it('hands over to a new arbiter with USR2, WINCH and TERM under load, failing no request', async () => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'unicorn.pid');
    const socket = path.join(dir, 'unicorn.sock');
    const unicorn = await serve(ROUTES, ['-k', 'async', '-p', pidfile, '-b', `unix:${socket}`], { workers: 2 });
    const loads = [
      await Load.start(unicorn.url(), { keepAlive: true }),
      await Load.start('http://localhost/', { keepAlive: false, socketPath: socket }),
    ];
    await Promise.all(loads.map((load) => load.flowing()));

    unicorn.signal('SIGUSR2');
    const reexec = await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec');
    const successor = reexec.successorPid as number;
    await unicorn.waitForLog(
      () => unicorn.logs.filter((l) => l.pid === successor && l.msg.startsWith('Listening at:')).length === 2,
      'the new arbiter listening',
    );
    expect(unicorn.logs.find((l) => l.pid === successor && l.msg.startsWith('Listening at:'))!.msg).toContain(
      `inherited from pid ${unicorn.pid}`,
    );
    await unicorn.waitForLog(
      () => unicorn.logs.filter((l) => l.pid === successor && l.msg === 'Using worker: async').length === 1,
      'the new arbiter',
    );
    // The new arbiter is a child of the old one, beside the old workers.
    const oldWorkers = () => unicorn.workerPids().filter((pid) => pid !== successor);
    await unicorn.waitForLog(() => oldWorkers().length === 2 && childPids(successor).length === 2, 'both sets of workers');
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(unicorn.pid));
    expect(readFileSync(`${pidfile}.2`, 'utf8').trim()).toBe(String(successor));

    unicorn.signal('SIGWINCH');
    await unicorn.waitForLog(() => oldWorkers().length === 0, 'the old workers gone');
    await Promise.all(loads.map((load) => load.flowing()));
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    await unicorn.waitForLog((l) => l.pid === successor && l.msg.startsWith('Took over the pidfile'), 'the pidfile taken over');
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(successor));
    expect(existsSync(`${pidfile}.2`)).toBe(false);
    expect(existsSync(socket)).toBe(true);
    await Promise.all(loads.map((load) => load.flowing()));
    for (const counts of await Promise.all(loads.map((load) => load.stop()))) {
      expect(counts).toMatchObject({ failed: 0, refused: 0 });
    }
    // The new arbiter stops as any does; it is killed by pid if the test fails before.
    process.kill(successor, 'SIGTERM');
    expect(await waitUntilGone([successor])).toEqual([]);
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(socket)).toBe(false);
  });
});

describe('pidfile', () => {
  it('is written at start and removed at exit', async () => {
    const pidfile = path.join(tempDir(), 'u.pid');
    const unicorn = await serve(ROUTES, ['--pid', pidfile]);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${unicorn.pid}\n`);
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    expect(existsSync(pidfile)).toBe(false);
  });

  it('refuses to start while it names a running process, binding nothing', async () => {
    const pidfile = path.join(tempDir(), 'u.pid');
    writeFileSync(pidfile, `${process.pid}\n`);
    const { code, stderr } = await runToExit(['-p', pidfile, '-b', '127.0.0.1:0', ROUTES]);
    expect(code).toBe(1);
    expect(stderr).toContain(`unicorn: error: the pidfile ${pidfile} names a running process (pid ${process.pid})`);
    expect(stderr).not.toContain('Listening at');
    expect(readFileSync(pidfile, 'utf8')).toBe(`${process.pid}\n`);
  });

  it('replaces a stale pidfile, and leaves one that no longer holds its pid at exit', async () => {
    const dir = tempDir();
    const pidfile = path.join(dir, 'u.pid');
    copyFileSync(path.join(APPS, 'package.json'), pidfile); // not a pid at all
    const unicorn = await serve(ROUTES, ['-p', pidfile]);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${unicorn.pid}\n`);
    writeFileSync(pidfile, '999999\n'); // someone else's now
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    expect(readFileSync(pidfile, 'utf8')).toBe('999999\n');
  });
});

describe('signals sent to a worker directly', () => {
  it('USR1 opens the inspector, which a worker that is not stuck closes again', async () => {
    const unicorn = await serve(ROUTES, ['-t', '1s']);
    const [worker] = unicorn.workerPids();
    process.kill(worker!, 'SIGUSR1');
    await unicorn.waitForLog((l) => l.pid === worker && l.msg.startsWith('Closed the inspector a SIGUSR1 opened'), 'the inspector closed');
    // Its address is published over HTTP only: no `Debugger listening on …` line in the log.
    expect(unicorn.stderr).not.toContain('Debugger');
    expect(unicorn.workerPids()).toEqual([worker]);
  });

  it('TERM stops that worker gracefully and the arbiter replaces it; TTIN to a worker does nothing', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const [first, second] = unicorn.workerPids();
    process.kill(second!, 'SIGTTIN');
    process.kill(first!, 'SIGTERM');
    await unicorn.waitForLog((l) => l.workerPid === first && l.code === 0, 'the worker exiting with 0');
    expect(await workersSettle(unicorn, 2)).toContain(second);
    expect((await request(unicorn.url())).status).toBe(200);
  });
});
