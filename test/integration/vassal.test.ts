/**
 * The arbiter as a vassal of the real `unicorn emperor` (docs/emperor.md): its reports as ctl shows
 * them, its log lines tagged with its name, its graceful stop when the emperor is killed, why it could
 * not serve; and on demand, on a unix socket and on TCP: started by the first connection, idle →
 * leaving → exit 0 with the socket still accepting, and no request lost in either transition.
 */
import path from 'node:path';
import { aboutVassal, reports, startEmperor, starts, vassalDir, vassalPid, waitForListed } from '../helpers/emperor';
import { request } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { APPS, childPids, isAlive, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a vassal', () => {
  it('reports its state and counts as ctl shows them, tags its log lines with its name, and finishes a request in flight when the emperor is killed by SIGKILL', async () => {
    const vassals = vassalDir();
    const port = await freePort();
    vassals.write('site-a', { bind: `127.0.0.1:${port}`, app: ROUTES, workers: 2 });
    const socket = path.join(vassals.sockets, 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket]);
    await emperor.ready(2);
    const url = `http://127.0.0.1:${port}`;
    expect((await request(`${url}/slow?ms=0`)).status).toBe(200);
    const listed = await waitForListed(socket, 'site-a', (v) => v.requests >= 1, 'listed with the request counted');
    expect(listed).toMatchObject({ state: 'serving', workers: 2, pid: vassalPid(emperor, 'site-a'), reason: null });
    expect(listed.rss).toBeGreaterThan(3 * 10 * 1024 * 1024);
    expect(listed.lastRequestAt).toBeGreaterThan(Date.now() - 60_000);
    expect(reports(emperor, 'site-a')[0]!.state).toBe('starting');
    const tagged = emperor.logs.filter((l) => l.role === 'arbiter' || l.role === 'worker');
    expect(tagged.length).toBeGreaterThan(0);
    expect(tagged.filter((l) => l.vassal !== 'site-a')).toEqual([]);

    // A request in flight when the emperor dies is finished; then nothing is left.
    const slow = request(`${url}/slow?ms=1500`);
    await emperor.waitForOutput('slow started');
    const pids = [vassalPid(emperor, 'site-a'), ...childPids(vassalPid(emperor, 'site-a'))];
    expect(pids.length).toBeGreaterThanOrEqual(3);
    process.kill(emperor.pid, 'SIGKILL');
    expect((await slow).status).toBe(200);
    expect(await waitUntilGone(pids, 20_000)).toEqual([]);
  });

  it('that cannot serve says why, as ctl and the log show it: a setting it refuses (exit 2), an app with a syntax error (exit 4)', async () => {
    const vassals = vassalDir();
    // The emperor reads the file as accepted; the vassal refuses it as it loads its plugins.
    vassals.write('bad', { app: ROUTES, plugins: ['./missing-plugin.js'] });
    vassals.write('broken', { app: path.join(APPS, 'syntax-error.js') });
    const socket = path.join(vassals.sockets, 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket]);

    const exitedBad = await emperor.waitForLog((l) => aboutVassal('bad')(l) && /^Vassal bad \(pid: \d+\): /.test(l.msg), 'bad exited');
    expect(exitedBad.msg).toMatch(/it exited with code 2$/);
    const bad = await waitForListed(socket, 'bad', (v) => v.state === 'put-aside', 'put aside');
    expect(bad.reason).toMatch(/^cannot load the plugin "\.\/missing-plugin\.js": /);
    expect(emperor.lines('Vassal bad is put aside (it keeps failing)')[0]!.reason).toBe(bad.reason);

    const exitedBroken = await emperor.waitForLog(
      (l) => aboutVassal('broken')(l) && /^Vassal broken \(pid: \d+\): /.test(l.msg),
      'broken exited',
    );
    expect(exitedBroken.msg).toMatch(/it exited with code 4$/);
    const broken = await waitForListed(socket, 'broken', (v) => v.state === 'failed', 'failed');
    expect(broken.reason).toMatch(/syntax-error\.js/);
    expect(emperor.lines('Vassal broken failed: ')[0]!.reason).toBe(broken.reason);
  });
});

/** The real emperor holding an on-demand vassal `lazy` on a socket of `kind`; `get` requests through it. */
async function onDemand(kind: string, config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const vassals = vassalDir();
  const bind = kind === 'unix' ? `unix:${vassals.socket('lazy')}` : `127.0.0.1:${await freePort()}`;
  vassals.write('lazy', { bind, app: ROUTES, workers: 2, onDemand: true, ...config });
  const emperor = startEmperor(vassals.dir, [], { env: { MARKER_DIR: vassals.sockets, ...env } });
  await emperor.waitForLog((l) => aboutVassal('lazy')(l) && l.msg.includes('waits for its first connection'), 'the sockets held');
  const get = (route: string) =>
    kind === 'unix' ? request(`http://localhost${route}`, { socketPath: vassals.socket('lazy') }) : request(`http://${bind}${route}`);
  return { emperor, get, bind };
}

describe.each(['unix', 'tcp'])('an on-demand vassal on a %s socket', (kind) => {
  it('is started by the first connection, and a burst of 50 while it starts are all served', async () => {
    const { emperor, get, bind } = await onDemand(kind);
    expect(starts(emperor, 'lazy')).toBe(0);
    const replies = await Promise.allSettled(Array.from({ length: 50 }, () => get('/slow?ms=0')));
    const failed = replies.filter((r) => r.status === 'rejected' || r.value.status !== 200);
    expect(failed).toEqual([]);
    expect(starts(emperor, 'lazy')).toBe(1);
    expect(emperor.lines('Listening at:')[0]!.msg).toMatch(/inherited from the emperor/);
    // The socket's own path, not the temporary name the emperor bound it under.
    expect(emperor.addresses()[0]).toBe(kind === 'unix' ? bind : `http://${bind}`);
  });

  it('leaves when idle (exit 0) with the socket accepting, the next connection starts a new vassal, and no request racing the exit is lost', async () => {
    const { emperor, get } = await onDemand(kind, { idleTimeout: '300ms' });
    let failed = 0;
    let served = 0;
    const deadline = Date.now() + 3500;
    // Pauses around the idle timeout: some requests come as the vassal leaves, or while it exits.
    for (let round = 0; Date.now() < deadline; round++) {
      const burst = await Promise.allSettled(Array.from({ length: 5 }, () => get('/slow?ms=0')));
      for (const r of burst) {
        if (r.status === 'fulfilled' && r.value.status === 200) served++;
        else failed++;
      }
      await sleep([200, 500, 900, 1300][round % 4]!);
    }
    expect(failed).toBe(0);
    expect(served).toBeGreaterThan(0);
    // The race was run: vassals left (exit 0, not a failure) and were started again.
    const left = emperor.lines('Vassal lazy left while idle');
    expect(left.length).toBeGreaterThanOrEqual(1);
    expect(starts(emperor, 'lazy')).toBeGreaterThanOrEqual(2);
    expect(emperor.lines('Vassal lazy (pid: ').filter((l) => l.code !== 0 || l.signal !== null)).toEqual([]);
    expect(emperor.lines('Vassal lazy failed')).toEqual([]);
    // The first vassal and its workers are gone; the emperor serves on.
    const first = emperor.lines('Vassal lazy started')[0]!.vassalPid as number;
    const firstWorkers = emperor.logs.filter((l) => l.pid === first && typeof l.workerPid === 'number').map((l) => l.workerPid as number);
    expect(await waitUntilGone([first, ...firstWorkers])).toEqual([]);
    expect((await get('/slow?ms=0')).status).toBe(200);
    expect(isAlive(emperor.pid)).toBe(true);
  });
});

// The hand-back is the same for every kind of socket: a handle, unread.
describe('an on-demand vassal', () => {
  it('stopped (TERM) before a worker is ready, hands the connections it holds back, and the next vassal serves them', async () => {
    const { emperor, get } = await onDemand(
      'unix',
      { workers: 1, gracefulTimeout: '10s', app: path.join(APPS, 'slow-first-boot.js') },
      { BOOT_MS: '4000' },
    );
    const replies = Promise.allSettled(Array.from({ length: 3 }, () => get('/slow?ms=0')));
    await emperor.waitForLog((l) => l.msg === 'Vassal lazy: passing a held connection', 'a connection passed to the starting vassal');
    const first = vassalPid(emperor, 'lazy');
    process.kill(first, 'SIGTERM');
    const settled = await replies;
    expect(settled.filter((r) => r.status === 'rejected' || r.value.status !== 200)).toEqual([]);
    expect(emperor.lines('Vassal lazy: unicorn:vassal-connection').filter((l) => l.pid === emperor.pid).length).toBeGreaterThanOrEqual(1);
    expect(emperor.lines(`Vassal lazy (pid: ${first}): `)[0]).toMatchObject({ code: 0 });
    // Not a failure: its sockets held again, the next vassal started at once for what was handed back.
    expect(emperor.lines('Vassal lazy failed')).toEqual([]);
    expect(starts(emperor, 'lazy')).toBe(2);
  });
});
