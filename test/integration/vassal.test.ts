/**
 * The arbiter as a vassal of `unicorn emperor` (docs/emperor.md), run by a stand-in parent that
 * spawns bin/unicorn as the emperor will and holds on-demand sockets with the emperor's own
 * HeldSockets (test/fixtures/emperor-stand-in.js): reports, the reason of a failure, no orphans when
 * the parent is killed, and on demand: started by the first connection, idle → leaving → exit 0 with
 * the socket still accepting, and no request lost in either transition.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BindAddress } from '../../src/config/address';
import { request } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { APPS, isAlive, ROOT, Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const STAND_IN = path.join(ROOT, 'test', 'fixtures', 'emperor-stand-in.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface StandInOptions {
  name: string;
  args: string[];
  onDemand?: BindAddress[];
}

function standIn(options: StandInOptions, extraEnv: NodeJS.ProcessEnv = {}): Unicorn {
  const env = { ...process.env, UNICORN_LOG_LEVEL: 'debug', ...extraEnv };
  return new Unicorn(spawn(process.execPath, [STAND_IN, JSON.stringify(options)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

const reports = (parent: Unicorn) =>
  parent.logs.filter((l) => l.msg === 'unicorn:vassal-report').map((l) => l.message as { state: string });
const spawns = (parent: Unicorn) => parent.lines('spawned').length;
const exits = (parent: Unicorn) => parent.lines('vassal exited');
/** Every pid of the vassals and their workers the log names. */
const vassalPids = (parent: Unicorn) =>
  [
    ...new Set(parent.logs.flatMap((l) => [l.vassalPid, l.workerPid, l.reaperPid, (l.role as string) === 'stand-in' ? undefined : l.pid])),
  ].filter((pid): pid is number => typeof pid === 'number');

describe('a vassal', () => {
  it('reports its state and counts, tags its log lines with its name, and stops gracefully when the emperor is killed', async () => {
    const parent = standIn({ name: 'site-a', args: ['-b', '127.0.0.1:0', '-w', '2', ROUTES] });
    await parent.waitForLog((l) => l.msg === 'unicorn:vassal-report' && (l.message as { state: string }).state === 'serving', 'serving');
    await parent.ready(2);
    const url = parent.url();
    expect((await request(`${url}/slow?ms=0`)).status).toBe(200);
    const counted = await parent.waitForLog(
      (l) => l.msg === 'unicorn:vassal-report' && (l.message as { requests: number }).requests >= 1,
      'a report with the request counted',
    );
    const report = counted.message as { workers: number; rss: number; lastRequestAt: number | null };
    expect(report.workers).toBe(2);
    expect(report.rss).toBeGreaterThan(3 * 10 * 1024 * 1024);
    expect(report.lastRequestAt).toBeGreaterThan(Date.now() - 60_000);
    expect(reports(parent)[0]!.state).toBe('starting');
    const tagged = parent.logs.filter((l) => l.role === 'arbiter' || l.role === 'worker');
    expect(tagged.length).toBeGreaterThan(0);
    expect(tagged.filter((l) => l.vassal !== 'site-a')).toEqual([]);

    // A request in flight when the emperor dies is finished; then nothing is left.
    const slow = request(`${url}/slow?ms=1500`);
    await parent.waitForOutput('slow started');
    const pids = vassalPids(parent);
    parent.proc.kill('SIGKILL');
    expect((await slow).status).toBe(200);
    expect(await waitUntilGone(pids, 20_000)).toEqual([]);
  });

  it('that cannot serve says why before it exits: a bad setting, an app that does not load', async () => {
    const bad = standIn({ name: 'bad', args: ['-b', '127.0.0.1:0', '-w', 'many', ROUTES] });
    const refused = await bad.waitForLog((l) => l.msg === 'unicorn:vassal-failed', 'the failure');
    expect((refused.message as { reason: string }).reason).toMatch(/many/);
    expect(exits(bad)).toHaveLength(0);
    await bad.waitForLog((l) => l.msg === 'vassal exited', 'the exit');
    expect(exits(bad)[0]).toMatchObject({ code: 2 });

    const broken = standIn({ name: 'broken', args: ['-b', '127.0.0.1:0', '-w', '1', path.join(APPS, 'syntax-error.js')] });
    const failed = await broken.waitForLog((l) => l.msg === 'unicorn:vassal-failed', 'the failure');
    expect((failed.message as { reason: string }).reason).toMatch(/syntax-error\.js/);
    await broken.waitForLog((l) => l.msg === 'vassal exited', 'the exit');
    expect(exits(broken)[0]).toMatchObject({ code: 4 });
  });
});

/** The stand-in holding an on-demand vassal's socket of `kind`; `get` requests through it. */
async function onDemand(kind: string, extra: string[] = [], app = ROUTES, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-vassal-'));
  const address: BindAddress =
    kind === 'unix' ? { kind: 'unix', path: path.join(dir, 'app.sock') } : { kind: 'tcp', host: '127.0.0.1', port: await freePort() };
  const bind = address.kind === 'unix' ? `unix:${address.path}` : `127.0.0.1:${address.port}`;
  const args = ['-b', bind, '-w', '2', '--control-socket', path.join(dir, 'ctl.sock'), ...extra, app];
  const parent = standIn({ name: 'lazy', onDemand: [address], args }, { MARKER_DIR: dir, ...env });
  await parent.waitForLog((l) => l.msg === 'holding', 'the sockets held');
  const get = (route: string) =>
    address.kind === 'unix'
      ? request(`http://localhost${route}`, { socketPath: address.path })
      : request(`http://127.0.0.1:${address.port}${route}`);
  return { parent, get, bind };
}

describe.each(['unix', 'tcp'])('an on-demand vassal on a %s socket', (kind) => {
  it('is started by the first connection, and a burst of 50 while it starts are all served', async () => {
    const { parent, get, bind } = await onDemand(kind);
    expect(spawns(parent)).toBe(0);
    const replies = await Promise.allSettled(Array.from({ length: 50 }, () => get('/slow?ms=0')));
    const failed = replies.filter((r) => r.status === 'rejected' || r.value.status !== 200);
    expect(failed).toEqual([]);
    expect(spawns(parent)).toBe(1);
    expect(parent.lines('Listening at:')[0]!.msg).toMatch(/inherited from the emperor/);
    // The socket's own path, not the temporary name the emperor bound it under.
    expect(parent.addresses()[0]).toBe(kind === 'unix' ? bind : `http://${bind}`);
  });

  it('leaves when idle (exit 0), the socket keeps accepting, and the next connection starts a new vassal', async () => {
    const { parent, get } = await onDemand(kind, ['--idle-timeout', '1s']);
    expect((await get('/slow?ms=0')).status).toBe(200);
    await parent.waitForLog((l) => l.msg === 'unicorn:vassal-leaving', 'the vassal leaving');
    await parent.waitForLog((l) => l.msg === 'vassal exited', 'the vassal exit');
    expect(exits(parent)[0]).toMatchObject({ code: 0, signal: null });
    const first = vassalPids(parent);
    expect(await waitUntilGone(first)).toEqual([]);
    const reply = await get('/slow?ms=0');
    expect(reply.status).toBe(200);
    expect(spawns(parent)).toBe(2);
  });

  it('loses no request that races the idle exit', async () => {
    const { parent, get } = await onDemand(kind, ['--idle-timeout', '300ms']);
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
    // The race was run: vassals left and were started again.
    expect(parent.lines('unicorn:vassal-leaving').length).toBeGreaterThanOrEqual(1);
    expect(spawns(parent)).toBeGreaterThanOrEqual(2);
    expect(isAlive(parent.pid)).toBe(true);
  });
});

// The hand-back is the same for every kind of socket: a handle, unread.
describe('an on-demand vassal', () => {
  it('stopped (TERM) before a worker is ready, hands the connections it holds back, and the next vassal serves them', async () => {
    const { parent, get } = await onDemand('unix', ['-w', '1', '--graceful-timeout', '10s'], path.join(APPS, 'slow-first-boot.js'), {
      BOOT_MS: '4000',
    });
    const replies = Promise.allSettled(Array.from({ length: 3 }, () => get('/slow?ms=0')));
    await parent.waitForLog((l) => l.msg === 'passed', 'a connection passed to the starting vassal');
    const [{ vassalPid }] = parent.lines('spawned');
    process.kill(vassalPid as number, 'SIGTERM');
    const settled = await replies;
    expect(settled.filter((r) => r.status === 'rejected' || r.value.status !== 200)).toEqual([]);
    expect(parent.lines('unicorn:vassal-connection').length).toBeGreaterThanOrEqual(1);
    expect(exits(parent)[0]).toMatchObject({ code: 0 });
    expect(spawns(parent)).toBe(2);
  });
});
