import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { Load } from '../helpers/load';
import { APPS, isAlive, serve, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SUPERVISED = path.join(APPS, 'supervised.mjs');

describe('heartbeats and timeouts', () => {
  it('kills a worker stuck in a loop within --timeout + 2s, logging the function and file it was stuck in', async () => {
    const unicorn = await serve(ROUTES, ['-t', '2s'], { workers: 2 });
    const stuck = request(`${unicorn.url()}/spin`).catch((err: Error) => ({ error: err.message }));
    const sent = Date.now();
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER TIMEOUT (pid:'), 'WORKER TIMEOUT', 10_000);
    const pid = line.workerPid as number;
    expect(line.msg).toMatch(/stuck in spinForever \(.*test\/fixtures\/apps\/routes\.js:\d+:\d+\)/);
    expect(line.msg).toContain('serving GET /spin');
    expect(line.stack).toMatch(/^ {4}at spinForever \(.*routes\.js:\d+:\d+\)\n {4}at app \(.*routes\.js/);
    await unicorn.waitForLog((l) => l.workerPid === pid && l.signal === 'SIGKILL', 'the stuck worker killed');
    expect(Date.now() - sent).toBeLessThan(2000 + 2000 + 500); // --timeout + 2s, plus the request's own way in
    expect(await stuck).toHaveProperty('error');
    // Replaced: two workers serve again, and the other worker never stopped serving.
    await unicorn.ready(3);
    expect((await request(unicorn.url())).status).toBe(200);
  });

  it('sync: --timeout limits one request; a worker whose loop is free runs its abort path', async () => {
    const unicorn = await serve(ROUTES, ['-t', '1s']);
    const hung = request(`${unicorn.url()}/slow?ms=60000`).catch((err: Error) => ({ error: err.message }));
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER TIMEOUT (pid:'), 'WORKER TIMEOUT');
    expect(line.msg).toContain('its event loop was free: waiting on I/O or a timer; serving GET /slow?ms=60000');
    await unicorn.waitForLog((l) => l.role === 'worker' && l.msg.startsWith('Worker aborted'), 'the abort path');
    await unicorn.waitForLog((l) => l.workerPid === line.workerPid && l.code === 1, 'the worker exiting with code 1');
    expect(await hung).toHaveProperty('error');
  });

  it('sync: a request shorter than --timeout is not cut off, however long it is against the heartbeat', async () => {
    const unicorn = await serve(ROUTES, ['-t', '2s']);
    for (const ms of [1200, 1500, 1200]) expect((await request(`${unicorn.url()}/slow?ms=${ms}`)).status).toBe(200);
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(0);
  });

  it('async: --timeout catches a stuck event loop, not slow requests', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '-t', '1s']);
    expect((await request(`${unicorn.url()}/slow?ms=2500`)).status).toBe(200);
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(0);
  });

  it('--timeout 0 turns the timeout off: even a stuck worker is left alone', async () => {
    const unicorn = await serve(ROUTES, ['-t', '0'], { workers: 2 });
    const workers = unicorn.workerPids();
    void request(`${unicorn.url()}/spin`, { timeoutMs: 3000 }).catch(() => undefined);
    // Nothing is to happen, so there is no event to await: wait past where a 1 s or 2 s timeout
    // would have fired, then look.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(0);
    expect(unicorn.workerPids().sort()).toEqual(workers.sort());
    expect((await request(unicorn.url())).status).toBe(200);
  });

  it('--worker-boot-timeout kills a worker stuck while loading, with its stack', async () => {
    const unicorn = start(['-b', '127.0.0.1:0', '--worker-boot-timeout', '1s', SUPERVISED], { env: { BOOT_SPIN: '1' } });
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER BOOT TIMEOUT (pid:'), 'WORKER BOOT TIMEOUT');
    expect(line.msg).toMatch(
      /not ready after 1\.\ds \(--worker-boot-timeout 1s\); stuck in spinWhileLoading \(.*supervised\.mjs:\d+:\d+\) while importing \/.*supervised\.mjs$/,
    );
    // Not a load error: it is retried, after a delay.
    await unicorn.waitForLog((l) => l.msg.startsWith('Booting worker') && l.workerId === 2, 'a second worker');
  });

  it('heartbeats only count once a worker has booted: a boot longer than --timeout is fine', async () => {
    const unicorn = await serve(SUPERVISED, ['-t', '1s'], { env: { BOOT_WAIT_MS: '1500' } });
    expect((await request(unicorn.url())).status).toBe(200);
    expect(unicorn.lines('WORKER')).toHaveLength(0);
  });
});

/** The lines on stderr that are not JSON objects: none, where the error log is JSON. */
function notJson(stderr: string): string[] {
  return stderr.split('\n').filter((line) => {
    if (line === '') return false;
    try {
      return typeof JSON.parse(line) !== 'object';
    } catch {
      return true;
    }
  });
}

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('an app that never finishes booting', () => {
  it.each([
    [
      'its top-level await never settles',
      SUPERVISED,
      { BOOT_HANG: '1' },
      `the default export of ${SUPERVISED}`,
      `the top-level await of ${SUPERVISED}, or of a module it imports, has not settled`,
    ],
    [
      'its factory never settles',
      `${SUPERVISED}:createApp()`,
      {},
      `the export createApp() of ${SUPERVISED}`,
      `the promise the factory createApp() of ${SUPERVISED} returned has not settled`,
    ],
  ])(
    'stops with exit code 3 after --boot-attempts when %s, naming the module and what it waits on',
    async (_, app, env, which, waiting) => {
      const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '--worker-boot-timeout', '1s', '--boot-attempts', '2', app], { env });
      const stop = await unicorn.waitForLog((l) => l.code === 'UNICORN_APP_BOOT_TIMEOUT', 'the server giving up');
      expect(await unicorn.exited).toEqual({ code: 3, signal: null });
      const prefix = `the app ${JSON.stringify(app)} (${which}) did not boot: 2 boots in a row were not ready within --worker-boot-timeout 1s, and no worker ever was (--boot-attempts 2); at the last timeout, `;
      expect(stop.msg.startsWith(prefix) && stop.msg.endsWith('; stopping')).toBe(true);
      // What the last one waited on, or, should its stack not be read in time on a loaded machine, the step it was at.
      expect(stop.msg.slice(prefix.length)).toMatch(
        new RegExp(
          `^(${literal(waiting)} \\(its event loop was free\\)|its stack could not be read: .*; it was (importing|calling the factory) .*); stopping$`,
        ),
      );
      expect(unicorn.lines('WORKER BOOT TIMEOUT').some((l) => l.msg.endsWith(`; ${waiting} (its event loop was free)`))).toBe(true);
      // Two attempts of two workers each, side by side, and none after.
      expect(unicorn.lines('Booting worker with pid: ')).toHaveLength(4);
      // Node's inspector notices during the diagnoses are JSON lines too (at debug level).
      expect(notJson(unicorn.stderr)).toEqual([]);
      expect(unicorn.logs.some((l) => l.role === 'worker' && l.level === 'debug' && l.msg === 'Debugger attached.')).toBe(true);
    },
  );

  it('once a worker has been ready, a boot that hangs is retried and the server serves on', async () => {
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-')), 'first');
    const unicorn = await serve(SUPERVISED, ['--worker-boot-timeout', '1s', '--boot-attempts', '1'], { env: { HANG_MARKER: marker } });
    const [first] = unicorn.workerPids();
    unicorn.signal('SIGTTIN'); // a second worker, and every later one, hangs while loading
    await unicorn.waitForLog(() => unicorn.lines('WORKER BOOT TIMEOUT').length >= 2, 'two boot timeouts, past --boot-attempts 1');
    // Retried with the backoff, which names what failed: a boot timeout is no crash.
    const streak = await unicorn.waitForLog((l) => l.failedStarts === 2, 'two failed starts in a row');
    expect(streak.msg).toMatch(
      /^2 worker starts failed in a row \(the last did not boot within --worker-boot-timeout 1s\); next respawn in \d/,
    );
    expect(unicorn.logs.filter((l) => l.code === 'UNICORN_APP_BOOT_TIMEOUT')).toEqual([]);
    expect(isAlive(unicorn.pid)).toBe(true);
    expect((await request(unicorn.url())).body).toBe(`supervised ${first}\n`);
  });
});

describe('the error log through a diagnosis', () => {
  it.each([[[] as string[]], [['--capture-output']]])('is JSON lines only, with %j', async (flags) => {
    const unicorn = await serve(ROUTES, ['-t', '1s', ...flags]);
    void request(`${unicorn.url()}/spin`).catch(() => undefined);
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER TIMEOUT (pid:'), 'WORKER TIMEOUT');
    await unicorn.waitForLog((l) => l.workerPid === line.workerPid && l.signal === 'SIGKILL', 'the stuck worker killed');
    unicorn.signal('SIGTERM');
    await unicorn.outputClosed;
    expect(notJson(unicorn.stderr)).toEqual([]);
    expect(unicorn.logs.some((l) => l.pid === line.workerPid && l.level === 'debug' && l.msg === 'Debugger attached.')).toBe(true);
  });
});

describe('crash loops', () => {
  it('respawns a worker that keeps crashing with a growing delay while the other serves', async () => {
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-')), 'first');
    const unicorn = await serve(SUPERVISED, [], { workers: 1, env: { CRASH_MARKER: marker } });
    unicorn.signal('SIGTTIN'); // a second worker, and every later one, crashes after booting
    const streak = await unicorn.waitForLog((l) => l.failedStarts === 4, 'four failed starts in a row', 20_000);
    // The delay doubles with each failed start in a row, ±50% at random: the first is 100–300 ms, the
    // fourth 800–2400 ms. (On a loaded machine a crashing worker may outlive a second of serving and
    // begin a new streak, so the logged delays need not grow line by line.)
    expect(streak.delayMs as number).toBeGreaterThan(300);
    expect(streak.msg).toMatch(
      /^4 worker starts failed in a row \(the last (exited with code 1 while booting|exited with code 1 \d+ms after it was ready)\); next respawn in \d/,
    );
    // The first worker never stopped serving (a request may also reach a crashing one in its
    // moment between ready and crash).
    const first = readFirst(unicorn.logs);
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(unicorn.url()).catch(() => undefined)));
    expect(replies.some((r) => r?.body === `supervised ${first}\n`)).toBe(true);
    expect(isAlive(first)).toBe(true);
    expect(isAlive(unicorn.pid)).toBe(true);
  });
});

describe('workers killed while serving', () => {
  it('are replaced at once, however many in a row: no backoff holds a slot empty', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async'], { workers: 2 });
    const load = await Load.start(unicorn.url(), { keepAlive: false });
    await load.flowing();
    // kill -9 the longest-serving worker six times, as an OOM killer or an operator would: with a
    // backoff that grew with each one, the later replacements waited seconds, and with both
    // workers gone at once, so did every request.
    for (let kill = 1; kill <= 6; kill++) {
      await unicorn.ready(2 + kill - 1);
      // Each victim has served for a second at least (1.2 s since it was ready; often it has by now).
      const { pid: victim, readyAt } = oldestWorker(unicorn);
      await new Promise((resolve) => setTimeout(resolve, readyAt + 1200 - Date.now()));
      process.kill(victim, 'SIGKILL');
      const killedAt = Date.now();
      await unicorn.waitForLog((l) => l.msg.startsWith('Booting worker') && l.workerId === 2 + kill, `replacement ${kill}`);
      // Forked at once; the bound only catches a backoff (its sixth step would be 3–10 s).
      expect(Date.now() - killedAt).toBeLessThan(1500);
    }
    await unicorn.ready(8);
    await load.flowing();
    await load.stop();
    expect(unicorn.logs.filter((l) => typeof l.failedStarts === 'number')).toEqual([]);
  });
});

/** The pid of the worker that has been ready the longest, and when it was ready (epoch ms), from the log. */
function oldestWorker(unicorn: Unicorn): { pid: number; readyAt: number } {
  const live = new Set(unicorn.workerPids());
  const ready = unicorn.lines('Worker (pid:').filter((l) => l.msg.endsWith(' ready') && live.has(l.workerPid as number));
  return { pid: ready[0]!.workerPid as number, readyAt: Date.parse(ready[0]!.time as string) };
}

function readFirst(logs: Array<{ msg: string; pid: number; role: string }>): number {
  return logs.find((l) => l.role === 'worker' && l.msg.startsWith('Worker serving'))!.pid;
}

describe('no orphans', () => {
  it('workers exit within seconds of a kill -9 of the arbiter, under load', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async'], { workers: 2 });
    const workers = unicorn.workerPids();
    const load = await Load.start(unicorn.url(), { keepAlive: true });
    await load.flowing();
    unicorn.signal('SIGKILL');
    expect(await waitUntilGone(workers, 5000)).toEqual([]);
    await load.stop();
  });
});

describe('recycling', () => {
  it.each([
    ['keep-alive', true, 'async'],
    ['Connection: close', false, 'sync'],
  ])('--max-requests 50 under a %s load: workers are replaced and no request fails', async (_, keepAlive, workerClass) => {
    const unicorn = await serve(ROUTES, ['-k', workerClass as string, '--max-requests', '50', '--max-requests-jitter', '10'], {
      workers: 2,
    });
    const load = await Load.start(unicorn.url(), { keepAlive: keepAlive as boolean });
    await unicorn.waitForLog(() => unicorn.lines('Replacing worker').length >= 4, 'four replacements', 20_000);
    await unicorn.waitForLog(() => unicorn.lines('Worker (pid:').filter((l) => l.code === 0).length >= 4, 'four retired workers gone');
    const counts = await load.stop();
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    expect(counts.ok).toBeGreaterThan(200);
    if (keepAlive) expect(counts.reusedConnections).toBeGreaterThan(counts.ok / 2);
    const replaced = unicorn.lines('Replacing worker')[0]!;
    expect(replaced.msg).toMatch(/^Replacing worker \(pid:\d+\): it has served (5\d|60) requests \(--max-requests 50\)$/);
    // The replacement was ready before the retiring worker was told to go.
    const readyAt = unicorn.logs.findIndex((l, i) => i > unicorn.logs.indexOf(replaced) && /^Worker \(pid:\d+\) ready$/.test(l.msg));
    const goneAt = unicorn.logs.findIndex((l) => l.workerPid === replaced.workerPid && l.code === 0);
    expect(readyAt).toBeGreaterThan(0);
    expect(goneAt).toBeGreaterThan(readyAt);
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(0);
  });

  it('--max-worker-memory replaces a worker past the limit, gracefully', async () => {
    // The limit is passed while the worker fills its new memory, and the arbiter may look at any
    // moment of the fill: past the limit by less than its hard margin (a quarter, 100MB) when the
    // fill ends, whenever it was seen passing, it is replaced and never killed (a worker starts
    // under 100MB).
    const unicorn = await serve(ROUTES, ['-t', '2s', '--max-worker-memory', '400MB']);
    const load = await Load.start(unicorn.url(), { keepAlive: false, concurrency: 2 });
    await load.flowing();
    expect((await request(`${unicorn.url()}/grow?mb=385`)).status).toBe(200);
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('Replacing worker'), 'the replacement', 10_000);
    expect(line.msg).toMatch(/it uses [\d.]+MB of memory, over --max-worker-memory 400MB$/);
    await unicorn.waitForLog((l) => l.workerPid === line.workerPid && l.code === 0, 'the old worker gone');
    expect(await load.stop()).toMatchObject({ failed: 0, refused: 0 });
  });

  it('--max-worker-lifetime with jitter replaces workers in turn, with no request failing', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--max-worker-lifetime', '1s', '--max-worker-lifetime-jitter', '500ms'], {
      workers: 2,
    });
    const load = await Load.start(unicorn.url(), { keepAlive: true });
    await unicorn.waitForLog(() => unicorn.lines('Replacing worker').length >= 3, 'three replacements', 15_000);
    expect(await load.stop()).toMatchObject({ failed: 0, refused: 0 });
    expect(unicorn.lines('Replacing worker')[0]!.msg).toMatch(/it has run for 1\.?\d*s \(--max-worker-lifetime 1s\)$/);
  });
});
