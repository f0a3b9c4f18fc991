/**
 * Scale to zero (--idle-timeout, docs/elastic.md) with real processes: the idle stop leaves no
 * worker and the arbiter listening, the next connection starts them and is answered, connections
 * that race the stop are all served, activity keeps the server awake, TERM while idle exits.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ctl, ctlStats } from '../helpers/ctl';
import { request } from '../helpers/http';
import { connect, exchange } from '../helpers/raw';
import { APPS, isAlive, runToExit, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const PROXIED = path.join(APPS, 'proxied.js');
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-idle-'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Idling {
  unicorn: Unicorn;
  socket: string;
  dir: string;
}

/** A server with --idle-timeout `idle`, its control socket in a directory of its own; resolves once its workers are ready. */
async function serveIdling(idle: string, extra: string[], workers = 2, bind = '127.0.0.1:0', app = ROUTES): Promise<Idling> {
  const dir = tempDir();
  const socket = path.join(dir, 'ctl.sock');
  const unicorn = start(['-b', bind, '-w', String(workers), '--idle-timeout', idle, '--control-socket', socket, ...extra, app]);
  await unicorn.ready(workers);
  return { unicorn, socket, dir };
}

/** Pids of the workers the arbiter has booted so far. */
const bootedPids = (unicorn: Unicorn) => unicorn.lines('Booting worker with pid').map((line) => line.workerPid as number);
/** Children of the arbiter that are workers (not its reaper). */
const liveWorkers = (unicorn: Unicorn) => {
  const booted = new Set(bootedPids(unicorn));
  return unicorn.workerPids().filter((pid) => booted.has(pid));
};
const idleStops = (unicorn: Unicorn) => unicorn.lines('Idle for ').length;

describe.each(['sync', 'async'])('--idle-timeout with the %s worker class', (workerClass) => {
  const klass = ['-k', workerClass];

  it('stops every worker when idle, keeps listening, and the next request starts them and is answered', async () => {
    const log = path.join(tempDir(), 'access.log');
    const { unicorn, socket } = await serveIdling('1s', [...klass, '--access-logfile', log]);
    const first = bootedPids(unicorn);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 1s: stopping 2 workers'), 'the idle stop');
    expect(await waitUntilGone(first)).toEqual([]);
    expect(isAlive(unicorn.pid)).toBe(true);
    expect(liveWorkers(unicorn)).toEqual([]);
    const idle = await ctlStats(socket);
    expect(idle).toMatchObject({ idleState: 'idle', idleStops: 1, wakeUps: 0, workerCount: 0, workers: [] });

    const reply = await request(`${unicorn.url()}/slow?ms=0`);
    expect(reply.status).toBe(200);
    const pid = Number(/slow (\d+)/.exec(reply.body)?.[1]);
    expect(first).not.toContain(pid);
    expect(bootedPids(unicorn)).toContain(pid);
    const awake = await ctlStats(socket);
    expect(awake).toMatchObject({ idleState: 'serving', wakeUps: 1, workerCount: 2 });
    expect(unicorn.lines('Waking: ').map((l) => l.msg)).toEqual([
      'Waking: a connection arrived with no worker serving; starting 1 worker, then 1 more once it serves',
    ]);
    // The worker that served it wrote its access line as for any other connection.
    await unicorn.waitForLog(() => readFileSync(log, 'utf8').includes('GET /slow?ms=0'), 'the access line', 5000);
    const status = await ctl(['--socket', socket, 'status']);
    expect(status.stdout).toMatch(/\nIdle stops: [12], wake-ups: 1\n/);
  });

  it('serves every request that races the idle stop: none fails', async () => {
    const { unicorn, socket } = await serveIdling('150ms', klass, 1);
    let failed = 0;
    let served = 0;
    const one = () =>
      request(`${unicorn.url()}/slow?ms=${Math.floor(Math.random() * 20)}`, { timeoutMs: 10_000 }).then(
        (reply) => (reply.status === 200 ? served++ : failed++),
        () => failed++,
      );
    // Until three idle stops and ten requests: on a loaded machine cold starts take longer, and the race takes longer too.
    for (const until = Date.now() + 20_000; Date.now() < until && (idleStops(unicorn) < 3 || served + failed < 10); ) {
      // Gaps around the idle stop (about two timeouts after the last request): bursts come as it is
      // decided, while the worker drains, and once no worker runs.
      await sleep(Math.random() * 500);
      await Promise.all(Array.from({ length: 1 + Math.floor(Math.random() * 3) }, one));
    }
    expect({ failed }).toEqual({ failed: 0 });
    expect(served).toBeGreaterThan(5);
    const stats = await ctlStats(socket);
    // The race was run: the server went idle and woke many times meanwhile.
    expect(stats.idleStops).toBeGreaterThanOrEqual(2);
    expect(stats.wakeUps).toBeGreaterThanOrEqual(2);
  });

  it('reads the PROXY header of the connection that wakes it, as of any other', async () => {
    const proxy = ['--proxy-protocol', '--proxy-allow-from', '127.0.0.1'];
    const { unicorn } = await serveIdling('300ms', [...klass, ...proxy], 1, '127.0.0.1:0', PROXIED);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
    expect(await waitUntilGone(bootedPids(unicorn))).toEqual([]);
    const { reply } = await exchange(
      unicorn.url(),
      'PROXY TCP4 203.0.113.7 10.0.0.1 5678 443\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ remoteAddress: '203.0.113.7', remotePort: 5678 });
  });

  it('does not cut off a request in flight at the timeout: it keeps the server awake', async () => {
    const { unicorn } = await serveIdling('300ms', klass, 1);
    const reply = await request(`${unicorn.url()}/hold?ms=1500`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^held \d+/);
    expect(idleStops(unicorn)).toBe(0);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop once the request is done');
  });
});

describe('--idle-timeout', () => {
  it('does not stop while a sync worker is busy on the CPU, its heartbeat held, and cannot answer for its counts', async () => {
    const { unicorn } = await serveIdling('300ms', ['-k', 'sync'], 2);
    const reply = await request(`${unicorn.url()}/cpu?ms=2000`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^cpu \d+/);
    expect(idleStops(unicorn)).toBe(0);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop once the request is done');
  });

  it('an open keep-alive connection keeps the server awake; once it closes, the server goes idle', async () => {
    const { unicorn } = await serveIdling('300ms', ['-k', 'async', '--keep-alive', '30'], 1);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await request(`${unicorn.url()}/`, { agent })).status).toBe(200);
    await sleep(1500);
    expect((await request(`${unicorn.url()}/`, { agent })).reusedSocket).toBe(true);
    expect(idleStops(unicorn)).toBe(0);
    agent.destroy();
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop once the connection closed');
  });

  it('goes idle and wakes on a unix socket too, calling onIdle and onWake', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'app.sock');
    const hooks = path.join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `export const onIdle = (a) => a.log.info('onIdle ' + a.idleState + ' ' + a.stats().idleStops);\n` +
        `export const onWake = (a) => a.log.info('onWake ' + a.idleState + ' ' + a.stats().wakeUps);\n`,
    );
    const { unicorn } = await serveIdling('300ms', ['--hook', hooks], 1, `unix:${file}`);
    await unicorn.waitForLog((l) => l.msg === 'onIdle idle 1', 'onIdle');
    expect(await waitUntilGone(bootedPids(unicorn))).toEqual([]);
    const reply = await request('http://localhost/', { socketPath: file });
    expect(reply.status).toBe(200);
    // Waking as the hook is queued; a worker may be ready by the time it runs.
    await unicorn.waitForLog((l) => /^onWake (waking|serving) 1$/.test(l.msg), 'onWake');
  });

  it('exits 0 on TERM while idle, and on TERM while waking', async () => {
    const idle = await serveIdling('300ms', [], 1);
    await idle.unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
    await waitUntilGone(bootedPids(idle.unicorn));
    idle.unicorn.signal('SIGTERM');
    expect(await idle.unicorn.exited).toEqual({ code: 0, signal: null });

    const waking = await serveIdling('300ms', [], 1);
    await waking.unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
    await waitUntilGone(bootedPids(waking.unicorn));
    const client = connect(waking.unicorn.url());
    client.on('error', () => {});
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waking.unicorn.waitForLog((l) => l.msg.startsWith('Waking: '), 'the wake-up');
    waking.unicorn.signal('SIGTERM');
    expect(await waking.unicorn.exited).toEqual({ code: 0, signal: null });
  });

  it('TTIN while idle starts a worker; HUP while idle reloads and starts the workers', async () => {
    const { unicorn, socket } = await serveIdling('300ms', [], 2);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
    // Gone first: a TTIN in the moment before they stop keeps one of them serving, starting none.
    expect(await waitUntilGone(bootedPids(unicorn))).toEqual([]);
    unicorn.signal('SIGTTIN');
    await unicorn.waitForLog((l) => l.msg === 'Waking: the worker count was set to 1; starting 1 worker', 'the wake-up');
    await unicorn.ready(3);
    await unicorn.waitForLog((l) => l.msg.startsWith('Awake: a worker was ready '), 'the end of the wake-up');
    expect(await ctlStats(socket)).toMatchObject({ wakeUps: 1 });

    await unicorn.waitForLog(() => idleStops(unicorn) === 2, 'the second idle stop');
    expect(await waitUntilGone(bootedPids(unicorn))).toEqual([]);
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg === 'Waking: a reload starts the workers; starting 2 workers', 'the wake-up by HUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete: 2 new workers ready'), 'the reload');
  });

  it.each(['sync', 'async'])(
    'WINCH while waking goes back to idle, and the connection that woke it is served (%s)',
    async (workerClass) => {
      const { unicorn } = await serveIdling('300ms', ['-k', workerClass], 1);
      await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
      expect(await waitUntilGone(bootedPids(unicorn))).toEqual([]);
      const replied = exchange(unicorn.url(), 'GET /slow?ms=0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 20_000);
      await unicorn.waitForLog((l) => l.msg.startsWith('Waking: '), 'the wake-up');
      unicorn.signal('SIGWINCH');
      const { reply } = await replied;
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
      // The workers it had started were stopped; the connection it held started them again.
      expect(unicorn.lines('Waking: ').length).toBe(2);
    },
  );

  it('accepts nothing once USR2 has started a new arbiter: no old worker is woken, and WINCH and TERM lose no request', async () => {
    const pidfile = path.join(tempDir(), 'u.pid');
    const { unicorn } = await serveIdling('300ms', ['-k', 'async', '-p', pidfile], 1);
    await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
    unicorn.signal('SIGUSR2');
    const successor = (await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec')).successorPid as number;
    await unicorn.waitForLog((l) => l.pid === successor && /^Worker \(pid:\d+\) ready$/.test(l.msg), 'the new arbiter serving');
    unicorn.signal('SIGWINCH');
    let failed = 0;
    const one = () =>
      request(`${unicorn.url()}/slow?ms=0`, { timeoutMs: 10_000 }).then(
        (reply) => reply.status === 200 || failed++,
        () => failed++,
      );
    // The new arbiter goes idle and wakes too: connections reach both arbiters' accepting copies.
    for (let round = 0; round < 10; round++) {
      await Promise.all([one(), one()]);
      await sleep(100);
    }
    const during = Promise.all([one(), one(), one()]);
    unicorn.signal('SIGTERM');
    await during;
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect({ failed }).toEqual({ failed: 0 });
    expect(unicorn.logs.filter((l) => l.pid === unicorn.pid && l.msg.startsWith('Waking: ')).map((l) => l.msg)).toEqual([]);
    process.kill(successor, 'SIGTERM');
    expect(await waitUntilGone([successor])).toEqual([]);
  });

  it('is refused with --reuse-port, naming both', async () => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '--reuse-port', '--idle-timeout', '30s', ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^unicorn: error: --idle-timeout 30s is not accepted with --reuse-port: .+\n$/);
  });
});
