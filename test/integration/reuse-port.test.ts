/**
 * --reuse-port when a worker leaves (one TTOU under connection churn used to reset every client):
 * the worker's own socket must leave the kernel's SO_REUSEPORT group as the worker stops accepting,
 * not once it has drained, and what is queued on it must be accepted and served, not reset.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Reply, request } from '../helpers/http';
import { Load } from '../helpers/load';
import { APPS, serve, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SUPERVISED = path.join(APPS, 'supervised.mjs');

/** How many `slow started` lines the app has printed. */
const slowStarted = (unicorn: Unicorn) => unicorn.stdout.split('slow started').length - 1;

/** Send /slow requests, one after another, until each of `pids` has one in flight. The kernel
 *  picks the socket by the client's port: a request may land on a worker that has one already. */
async function slowOnEach(unicorn: Unicorn, pids: number[], ms: number, until?: string): Promise<Array<Promise<Reply>>> {
  const replies: Array<Promise<Reply>> = [];
  const release = until === undefined ? '' : `&until=${encodeURIComponent(until)}`;
  while (!pids.every((pid) => unicorn.stdout.includes(`slow started ${pid}\n`))) {
    if (replies.length === 40) throw new Error(`no slow request reached every one of ${pids.join(', ')}:\n${unicorn.stdout}`);
    const sent = slowStarted(unicorn);
    replies.push(request(`${unicorn.url()}/slow?ms=${ms}${release}`, { timeoutMs: 60_000 }));
    // A sync worker busy with one takes no other: a request that lands there waits its turn.
    await unicorn.waitForLog(() => slowStarted(unicorn) > sent, 'a slow request started', 500).catch(() => undefined);
  }
  return replies;
}

/** The worker of `pids` a TTOU stopped, as it says when it begins to stop. */
const removedWorker = (unicorn: Unicorn, pids: number[]) =>
  unicorn.waitForLog((l) => pids.includes(l.pid) && l.msg === `Worker exiting (pid: ${l.pid})`, 'a worker stopping');

/** GET / on a new connection: `queued` once the connection is established (on loopback the kernel
 *  has queued it on one of the port's sockets by then), `reply` with the response, or rejected with
 *  the error that cut it (a reset). Sockets left open are destroyed when the test ends. */
function connected(url: string): { queued: Promise<void>; reply: Promise<{ status: number; pid: number }> } {
  const { port } = new URL(url);
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
  sockets.push(socket);
  const queued = new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  let response = '';
  const reply = new Promise<{ status: number; pid: number }>((resolve, reject) => {
    socket.setEncoding('latin1').on('data', (chunk: string) => (response += chunk));
    socket.on('error', reject);
    socket.on('end', () =>
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1]), pid: Number(/hello (\d+)\n$/.exec(response)?.[1]) }),
    );
  });
  return { queued, reply };
}

const sockets: net.Socket[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('--reuse-port: a worker that leaves takes its socket out of the port first', () => {
  it("serves the connections queued on a removed worker's socket instead of resetting them", async () => {
    // sync workers busy with a slow request each accept nothing: new connections queue on the
    // sockets the kernel picks for them.
    const unicorn = await serve(ROUTES, ['-k', 'sync', '--reuse-port', '--graceful-timeout', '60'], { workers: 2 });
    const pids = unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    const slow = await slowOnEach(unicorn, pids, 2_000);
    const waiting = Array.from({ length: 16 }, () => connected(unicorn.url()));
    await Promise.all(waiting.map((w) => w.queued));
    // TTOU stops one (the idlest: both are busy): its socket leaves the port with these connections queued on it.
    unicorn.signal('SIGTTOU');
    const removed = (await removedWorker(unicorn, pids)).pid;
    const replies = await Promise.all(waiting.map((w) => w.reply));
    for (const reply of replies) expect(reply.status).toBe(200);
    // 16 connections over two sockets: the removed worker's had some of them (1 in 2^15 it had none),
    // and took them: it served them, or, busy, handed them back for the other worker to serve.
    const handedBack = unicorn.lines('Handed back ').filter((l) => l.pid === removed);
    expect(replies.some((reply) => reply.pid === removed) || handedBack.length > 0).toBe(true);
    for (const reply of await Promise.all(slow)) expect(reply.status).toBe(200);
    await unicorn.waitForLog((l) => l.msg === `Worker (pid:${removed}) exited with code 0`, 'the removed worker exited', 60_000);
  });

  it('serves what is queued on the socket of a worker that was already stopping when it is removed', async () => {
    // A worker told to stop directly (not by the arbiter) has closed its gate; the arbiter, not
    // knowing, still holds its socket, where the kernel queues connections. A TTOU then removes it:
    // its last copy reaches a worker whose gate is closed, which must still take the queue.
    const unicorn = await serve(ROUTES, ['-k', 'sync', '--reuse-port', '--graceful-timeout', '60'], { workers: 2 });
    const pids = unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    const slow = await slowOnEach(unicorn, pids, 3_000);
    process.kill(pids[0]!, 'SIGTERM');
    await unicorn.waitForLog((l) => l.msg === `Worker exiting (pid: ${pids[0]})`, 'the oldest worker began its stop');
    const waiting = Array.from({ length: 16 }, () => connected(unicorn.url()));
    await Promise.all(waiting.map((w) => w.queued));
    // TTOU stops the oldest, the one already stopping: its socket leaves the port, queue and all.
    unicorn.signal('SIGTTOU');
    const replies = await Promise.allSettled(waiting.map((w) => w.reply));
    const failed = replies.filter((r) => r.status === 'rejected' || r.value.status !== 200);
    expect(failed).toEqual([]);
    for (const reply of await Promise.all(slow)) expect(reply.status).toBe(200);
    await unicorn.waitForLog((l) => l.msg === `Worker (pid:${pids[0]}) exited with code 0`, 'the removed worker exited', 60_000);
  });

  it('a booting worker handed the last copy of a socket with a queue boots and serves that queue', async () => {
    // Both workers are killed; their replacements take their sockets over and wait to load: every
    // connection queues. TTOU stops the oldest, booting: its socket leaves the port, queue and all.
    const gate = mkdtempSync(path.join(os.tmpdir(), 'unicorn-boot-gate-'));
    dirs.push(gate);
    const unicorn = await serve(SUPERVISED, ['-k', 'sync', '--reuse-port', '--graceful-timeout', '60'], {
      workers: 2,
      env: { BOOT_GATE: gate },
    });
    const booted = () => unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    for (const [victim, count] of [
      [booted()[1]!, 3],
      [booted()[0]!, 4],
    ] as const) {
      process.kill(victim, 'SIGKILL');
      await unicorn.waitForLog(
        () => booted().length === count && unicorn.stdout.includes(`waiting ${booted()[count - 1]}\n`),
        'a replacement waiting to load',
      );
    }
    const replacement = booted()[2]!;
    const waiting = Array.from({ length: 16 }, () => connected(unicorn.url()));
    await Promise.all(waiting.map((w) => w.queued));
    unicorn.signal('SIGTTOU');
    await unicorn.waitForLog((l) => l.msg === `Worker exiting (pid: ${replacement})`, 'the booting replacement was stopped');
    writeFileSync(path.join(gate, 'go'), '');
    const replies = await Promise.allSettled(waiting.map((w) => w.reply));
    const failed = replies.filter((r) => r.status === 'rejected' || r.value.status !== 200);
    expect(failed).toEqual([]);
    await unicorn.waitForLog((l) => l.msg === `Worker (pid:${replacement}) exited with code 0`, 'the stopped replacement exited', 60_000);
  });

  it('sends no new connection to a removed worker that still has a request in flight', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--reuse-port', '--graceful-timeout', '60', '--log-level', 'debug'], {
      workers: 3,
    });
    // Every worker has a request in flight: the one TTOU stops has one.
    const pids = unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    // In flight until the checks below are done (20 s at most), then released by this file.
    const release = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-reuse-')), 'release');
    const slow = await slowOnEach(unicorn, pids, 20_000, release);
    // Connection churn: a new connection for every request, 16 clients.
    const load = await Load.start(unicorn.url(), { keepAlive: false, concurrency: 16, pauseMs: 0 });
    await load.flowing(100);
    unicorn.signal('SIGTTOU');
    // Its socket's last copy is closed once a poll finds its queue empty; a connection that arrives
    // between that poll and the close is reset (net.ipv4.tcp_migrate_req is off: docs/os.md), so
    // the connections counted below start after it.
    const removed = (await removedWorker(unicorn, pids)).pid;
    await unicorn.waitForLog(
      (l) => l.pid === removed && l.msg === 'Stopped accepting; finishing the open connections',
      'the removed worker closed its socket',
    );
    // Every new connection is served at once: none waits on the socket of the worker that drains
    // (before, such connections waited for its slow request, then were reset). Of 30, some would
    // have been sent there (1 in 10^5 that none would).
    for (let i = 0; i < 30; i++) expect((await request(unicorn.url(), { timeoutMs: 5_000 })).status).toBe(200);
    await load.stop();
    writeFileSync(release, '');
    for (const reply of await Promise.all(slow)) expect(reply.status).toBe(200);
    await unicorn.waitForLog((l) => l.msg === `Worker (pid:${removed}) exited with code 0`, 'the removed worker exited', 60_000);
  });
});
