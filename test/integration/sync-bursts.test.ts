/**
 * A burst of slow requests reaching sync workers that have so far served fast ones: two workers,
 * routes.js, eight concurrent requests of 0.7 s each. A sync worker must hold no more connections than
 * it has started requests on: a connection it accepted and cannot start soon goes back to the arbiter
 * for a free worker, so that one worker does not take the burst, and stopping or killing it strands
 * nothing but the request it had started.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { localhostCertificate } from '../helpers/certificates';
import { type Reply, request, sequential } from '../helpers/http';
import { APPS, serve, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SLOW_PEER = path.join(APPS, 'slow-peer.js');
const BURST = 8;
const SLOW_MS = 700;
/** Longer than a request of the burst takes, with room for a loaded machine. */
const FROZEN_MS = 2500;

/** Fast requests two at a time: each worker's requests average well under a millisecond, so that
 *  (before handing back) it takes whatever is waiting at once. */
async function warmUp(unicorn: Unicorn): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.all([sequential(unicorn.url(), 1), sequential(unicorn.url(), 1)]);
}

/** The burst, every reply or its error; `slow <pid>` bodies name the worker that served each. */
function burst(unicorn: Unicorn, timeoutMs = 30_000): Promise<Array<Reply | { error: string }>> {
  return Promise.all(
    Array.from({ length: BURST }, () =>
      request(`${unicorn.url()}/slow?ms=${SLOW_MS}`, { timeoutMs }).catch((err: Error) => ({ error: err.message })),
    ),
  );
}

/** Pids of the workers that have started a slow request, in order, from the app's stdout. */
const startedBy = (unicorn: Unicorn) => [...unicorn.stdout.matchAll(/slow started (\d+)/g)].map((m) => Number(m[1]));

const served = (replies: Array<Reply | { error: string }>) => replies.filter((r): r is Reply => 'status' in r && r.status === 200);

describe('sync workers and a burst of slow requests after fast ones', () => {
  it('spread it: no worker serves more than its share and one, and the last reply comes in time', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    await warmUp(unicorn);
    const replies = await burst(unicorn);
    const ok = served(replies);
    expect(ok).toHaveLength(BURST);
    const perWorker = new Map<string, number>();
    for (const { body } of ok) perWorker.set(body, (perWorker.get(body) ?? 0) + 1);
    // Taken by one worker, the burst is answered 6 to 8 in turn; spread, 4 each.
    expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(BURST / 2 + 1);
    // Four rounds spread, eight taken whole: a bound between, generous for a loaded machine.
    expect(Math.max(...ok.map((r) => r.ms))).toBeLessThan(6.5 * SLOW_MS);
  });

  it('spread it over a unix socket too: its connections go back as pipes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-sync-bursts-'));
    try {
      const socketPath = path.join(dir, 'app.sock');
      const unicorn = await serve(ROUTES, ['-b', `unix:${socketPath}`], { workers: 2 });
      for (let i = 0; i < 10; i++)
        await Promise.all([request('http://localhost/', { socketPath }), request('http://localhost/', { socketPath })]);
      const replies = await Promise.all(
        Array.from({ length: 6 }, () => request(`http://localhost/slow?ms=${SLOW_MS}`, { socketPath, timeoutMs: 30_000 })),
      );
      const perWorker = new Map<string, number>();
      for (const { body } of replies) perWorker.set(body, (perWorker.get(body) ?? 0) + 1);
      expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(4);
      expect(unicorn.lines('Handed back ').length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('TERM to the busy workers strands nothing: each serves what it started, their replacements the rest', async () => {
    // Shorter than the burst takes in one worker (about 5 s), longer than a request (0.7 s).
    const unicorn = await serve(ROUTES, ['--graceful-timeout', '2s'], { workers: 2 });
    await warmUp(unicorn);
    const workers = unicorn.workerPids();
    const replies = burst(unicorn);
    await unicorn.waitForOutput('slow started');
    // Which worker took more of the burst cannot be seen from here: both are stopped.
    for (const pid of workers) process.kill(pid, 'SIGTERM');
    const all = await replies;
    expect(all.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
    // Each stopped worker's exit was its own graceful one, not its timer's.
    expect(unicorn.logs.filter((l) => l.msg.startsWith('Graceful stop took longer'))).toEqual([]);
  });

  it('TERM to the arbiter while it holds connections handed back: the stopping workers serve them', async () => {
    const unicorn = await serve(ROUTES, ['--graceful-timeout', '10s'], { workers: 2 });
    await warmUp(unicorn);
    const replies = burst(unicorn);
    await unicorn.waitForLog((l) => l.msg.startsWith('Handed back '), 'a busy worker handing back');
    unicorn.signal('SIGTERM');
    const all = await replies;
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    // What no worker had accepted when the listeners closed is reset, as at any stop; what the
    // arbiter held was accepted, and is served: every connection handed back was started, besides
    // at least the one whose request made its worker hand back.
    const handedBack = unicorn.lines('Handed back ').reduce((sum, line) => sum + (line.connections as number), 0);
    const started = startedBy(unicorn).length;
    expect(started).toBeGreaterThanOrEqual(handedBack + 1);
    expect(served(all)).toHaveLength(started);
  });

  it('a frozen arbiter does not stop free workers accepting: fresh clients are answered meanwhile', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    await warmUp(unicorn);
    const replies = burst(unicorn);
    // Both workers busy, and connections held: each asks the arbiter for one once its request is done.
    await unicorn.waitForLog(
      () => new Set(startedBy(unicorn)).size === 2 && unicorn.lines('Handed back ').length > 0,
      'both workers busy, and one handing back',
    );
    const startedBeforeFreeze = startedBy(unicorn).length;
    process.kill(unicorn.pid, 'SIGSTOP');
    let thawedAt = Infinity;
    let startedWhileFrozen = 0;
    const thaw = new Promise<void>((resolve) =>
      setTimeout(() => {
        thawedAt = performance.now();
        startedWhileFrozen = startedBy(unicorn).length - startedBeforeFreeze;
        process.kill(unicorn.pid, 'SIGCONT');
        resolve();
      }, FROZEN_MS),
    );
    let fresh: Array<{ status: number; beforeThaw: boolean } | { error: string }> = [];
    try {
      fresh = await Promise.all(
        [1, 2].map(() =>
          request(unicorn.url(), { timeoutMs: 10_000 }).then(
            (reply) => ({ status: reply.status, beforeThaw: performance.now() < thawedAt }),
            (err: Error) => ({ error: err.message }),
          ),
        ),
      );
    } finally {
      await thaw;
    }
    // Each worker accepts again after a moment, once at least: it listens on the spare copy of the
    // listener it holds (worker/accept.ts; another comes from the arbiter). What it takes is a fresh
    // client, or a connection of the burst still in the backlog, ahead of them.
    const answeredWhileFrozen = fresh.filter((r) => 'beforeThaw' in r && r.beforeThaw).length;
    expect(startedWhileFrozen + answeredWhileFrozen).toBeGreaterThanOrEqual(2);
    expect(fresh.map((r) => ('status' in r ? r.status : r.error))).toEqual([200, 200]);
    // What the arbiter held while frozen is served once it runs again.
    expect(served(await replies)).toHaveLength(BURST);
  });

  it('HUP from sync to async while connections are held: the new workers serve them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-sync-bursts-'));
    try {
      const file = path.join(dir, 'unicorn.config.mjs');
      writeFileSync(file, "export default { workers: 2, workerClass: 'sync' };");
      const unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
      await unicorn.ready(2);
      await warmUp(unicorn);
      const syncWorkers = unicorn.workerPids();
      const replies = burst(unicorn, 20_000);
      await unicorn.waitForLog((l) => l.msg.startsWith('Handed back '), 'a busy worker handing back');
      writeFileSync(file, "export default { workers: 2, workerClass: 'async' };");
      unicorn.signal('SIGHUP');
      const all = await replies;
      expect(all.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
      // Some were served by the async workers: those the sync workers handed back while stopping.
      const servedBy = served(all).map((r) => Number(r.body.split(' ')[1]));
      expect(servedBy.filter((pid) => !syncWorkers.includes(pid)).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kill -9 of a busy worker loses only the request it had started', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    await warmUp(unicorn);
    const replies = burst(unicorn);
    await unicorn.waitForOutput('slow started');
    const [busy] = startedBy(unicorn);
    // What it accepted and has not started is back with the arbiter once it says so; without a
    // hand-back there is no such line, and the kill comes after a bound that only catches hangs.
    await unicorn
      .waitForLog((l) => l.pid === busy && l.msg.startsWith('Handed back '), 'the busy worker handing back', 2000)
      .catch(() => undefined);
    process.kill(busy!, 'SIGKILL');
    const all = await replies;
    const failed = all.filter((r) => !('status' in r) || r.status !== 200);
    expect(failed).toHaveLength(1);
    expect(served(all)).toHaveLength(BURST - 1);
  });
});

describe('a burst of slow requests over TLS behind a PROXY header, after fast ones', () => {
  const localhost = localhostCertificate('unicorn-sync-bursts-');
  const { cert: CERT, key: KEY } = localhost;

  /** GET `target` over TLS after a PROXY v1 header naming `client`: the JSON the app answers. */
  function proxiedTls(port: number, client: string, target: string): Promise<{ pid: number; remoteAddress: string; encrypted: boolean }> {
    return new Promise((resolve, reject) => {
      const raw = net.connect({ port, host: '127.0.0.1' }, () => {
        raw.write(`PROXY TCP4 ${client} 10.0.0.1 5678 443\r\n`);
        const socket = tls.connect({ socket: raw, ca: localhost.ca, servername: 'localhost' });
        let reply = '';
        const bound = setTimeout(() => socket.destroy(new Error(`no answer within 20s; received ${JSON.stringify(reply)}`)), 20_000);
        socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
        socket.on('error', (err) => {
          clearTimeout(bound);
          reject(err);
        });
        socket.on('close', () => {
          clearTimeout(bound);
          try {
            resolve(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)));
          } catch {
            reject(new Error(`not an answer: ${JSON.stringify(reply)}`));
          }
        });
        socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      });
      raw.on('error', reject);
    });
  }

  it('is spread, and each connection handed back is served whole: its header read, its handshake done, by the worker that takes it', async () => {
    const args = ['--certfile', CERT, '--keyfile', KEY, '--proxy-protocol', '--proxy-allow-from', '127.0.0.1'];
    const unicorn = await serve(SLOW_PEER, args, { workers: 2 });
    const port = Number(new URL(unicorn.addresses()[0]!).port);
    for (let i = 0; i < 10; i++) await Promise.all([proxiedTls(port, '203.0.113.1', '/'), proxiedTls(port, '203.0.113.2', '/')]);
    const clients = Array.from({ length: 6 }, (_, i) => `203.0.113.${10 + i}`);
    const replies = await Promise.all(clients.map((client) => proxiedTls(port, client, `/?ms=${SLOW_MS}`)));
    expect(replies.map((r) => [r.remoteAddress, r.encrypted])).toEqual(clients.map((client) => [client, true]));
    const perWorker = new Map<number, number>();
    for (const { pid } of replies) perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
    expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(4);
    // Connections did go back: the burst was accepted whole by one worker, as after fast traffic.
    expect(unicorn.lines('Handed back ').length).toBeGreaterThan(0);
  });
});
