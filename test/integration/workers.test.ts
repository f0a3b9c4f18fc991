import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { inFlight, request, sequential } from '../helpers/http';
import { exchange } from '../helpers/raw';
import { APPS, serve } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

describe('sync workers', () => {
  it('answer with Connection: close, even when the app asks for keep-alive', async () => {
    const unicorn = await serve(ROUTES);
    const reply = await request(unicorn.url(), { headers: { connection: 'keep-alive' } });
    expect(reply.headers.connection).toBe('close');
    // The app's own `Connection: keep-alive` header does not keep the connection open.
    const {
      reply: answer,
      closed,
      reset,
    } = await exchange(unicorn.url(), 'GET /keep-alive-header HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', 5000);
    // The server closed it.
    expect({ closed, reset }).toEqual({ closed: true, reset: false });
    expect(answer).toMatch(/\r\nConnection: close\r\n/);
    expect(answer).not.toMatch(/keep-alive\r\n/i);
  });

  it('are not held by clients that connect and send nothing', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const { port } = new URL(unicorn.url());
    const idle = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket));
          }),
      ),
    );
    try {
      const reply = await request(unicorn.url(), { timeoutMs: 5000 });
      expect(reply.status).toBe(200);
      expect(reply.ms).toBeLessThan(1000);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });

  it('take no connection while busy on the CPU: another worker serves them at once', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    // Busy until the loop below has ended and been judged (20 s at most), then released by this file.
    const release = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-workers-')), 'release');
    const slow = inFlight(`${unicorn.url()}/cpu?ms=20000&until=${encodeURIComponent(release)}`, { timeoutMs: 30_000 });
    await slow.handling;
    const fast: Array<{ status: number; body: string }> = [];
    let slowDone = false;
    void slow.reply.then(() => (slowDone = true));
    for (let i = 0; i < 20; i++) {
      fast.push(await request(unicorn.url(), { timeoutMs: 5000 }));
      // Spread the 20 requests over the busy time.
      await delay(25);
    }
    // Not one queued behind the busy worker: all were answered while it was busy, by the other
    // worker. Judged by order, not by a wall-clock bound, which a loaded machine can pass.
    expect(slowDone).toBe(false);
    expect(fast.map((r) => r.status)).toEqual(Array(20).fill(200));
    const servedBy = new Set(fast.map((r) => Number(r.body.split(' ')[1])));
    expect(servedBy.size).toBe(1);
    expect(unicorn.workerPids()).toContain([...servedBy][0]);
    writeFileSync(release, '');
    expect(await slow.reply).toMatchObject({ body: expect.stringMatching(/^cpu/) });
  });

  it('stop accepting while a request awaits I/O, so new clients do not queue behind it', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    // Warm both workers with fast requests: they then take bursts whole, and only the pause for
    // the held request keeps the fast ones below away from it.
    for (let i = 0; i < 5; i++) await Promise.all([request(unicorn.url()), request(unicorn.url())]);
    // Held far longer than the fast requests take on any machine: the test ends before it does.
    const slow = inFlight(`${unicorn.url()}/hold?ms=20000`, { timeoutMs: 30_000 });
    await slow.handling;
    let heldEnded = false;
    void slow.reply.then(() => (heldEnded = true));
    // The holding worker's event loop is idle, awaiting a timer: without its pause it would accept
    // about half of these, to answer them after the held request (each would time out first).
    const fast = await sequential(unicorn.url(), 20, { timeoutMs: 5000 });
    // Not one queued behind the held request: all were answered while it was held, by the other
    // worker. Judged by order, not by a wall-clock bound, which the scheduler of a loaded machine
    // can pass for any request.
    expect(heldEnded).toBe(false);
    const servedBy = new Set(fast.map((r) => Number(r.body.split(' ')[1])));
    expect(servedBy.size).toBe(1);
    expect(unicorn.workerPids()).toContain([...servedBy][0]);
  });

  it('spread a burst of slow requests over the workers instead of one taking it all', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 4 });
    // Each worker times a slow request first, so the burst meets workers that know the app is slow.
    await Promise.all(Array.from({ length: 4 }, () => request(`${unicorn.url()}/slow?ms=50`)));
    const began = performance.now();
    const replies = await Promise.all(Array.from({ length: 8 }, () => request(`${unicorn.url()}/slow?ms=300`)));
    const elapsed = performance.now() - began;
    const perWorker = new Map<string, number>();
    for (const { body } of replies) perWorker.set(body, (perWorker.get(body) ?? 0) + 1);
    // One worker taking the burst would answer the 8 in turn: 2.4 s; spread, they take 0.9 s.
    expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(3);
    expect(elapsed).toBeLessThan(2400);
  });

  it('after a request that held the CPU, take one connection at a time though the app is fast on average', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    // Many fast requests make the average fast: a worker then takes a burst whole.
    for (let i = 0; i < 20; i++) await Promise.all([request(unicorn.url()), request(unicorn.url())]);
    // Two 60 ms requests in each worker leave the average under 5 ms, but not the worker's memory of them.
    const seen = new Map<string, number>();
    for (let i = 0; i < 100 && !(seen.size === 2 && [...seen.values()].every((n) => n >= 2)); i++) {
      const { body } = await request(`${unicorn.url()}/cpu?ms=60`);
      seen.set(body, (seen.get(body) ?? 0) + 1);
      // Fast requests between them keep the average down.
      for (let j = 0; j < 10; j++) await request(unicorn.url());
    }
    expect([...seen.values()]).toEqual([expect.any(Number), expect.any(Number)]);
    expect(Math.min(...seen.values())).toBeGreaterThanOrEqual(2);
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(`${unicorn.url()}/slow?ms=400`)));
    const perWorker = new Map<string, number>();
    for (const { body } of replies) perWorker.set(body, (perWorker.get(body) ?? 0) + 1);
    // Taken whole, the burst would be answered 6 by one worker.
    expect(Math.max(...perWorker.values())).toBeLessThanOrEqual(4);
  });
});

describe('async workers', () => {
  it('serve concurrent slow requests in one worker', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async']);
    const began = performance.now();
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(`${unicorn.url()}/slow?ms=500`)));
    const elapsed = performance.now() - began;
    expect(new Set(replies.map((r) => r.body)).size).toBe(1);
    // Ten 500 ms requests one after another would take 5 s.
    expect(elapsed).toBeLessThan(2500);
  });

  it('keep connections alive', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    agent.on('free', (socket) => sockets.add(socket));
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await request(unicorn.url(), { agent });
        expect(reply.headers.connection).toBe('keep-alive');
        expect(reply.headers['keep-alive']).toBe('timeout=5');
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('close every connection with --keep-alive 0', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--keep-alive', '0']);
    expect((await request(unicorn.url(), { headers: { connection: 'keep-alive' } })).headers.connection).toBe('close');
  });

  it('past --worker-connections, make new connections wait rather than drop them, and close each connection after its response so that they take turns', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--worker-connections', '2']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      // Two connections, each held by a slow request: the worker is at its limit.
      const slow = [request(`${unicorn.url()}/slow?ms=500`, { agent }), request(`${unicorn.url()}/slow?ms=1000`, { agent })];
      await unicorn.waitForLog(() => unicorn.stdout.split('slow started').length === 3, 'both slow requests started');
      let answered = false;
      const third = request(unicorn.url()).then((reply) => {
        answered = true;
        return reply;
      });
      await delay(200);
      expect(answered).toBe(false);
      // At the limit, a response closes its connection: the third is accepted and served. (The
      // second slow one may end below the limit again, and keep its connection.)
      expect((await slow[0]!).headers.connection).toBe('close');
      expect((await third).status).toBe(200);
      expect((await slow[1]!).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('at --worker-connections, serve every keep-alive client in turn, not only those that came first', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--worker-connections', '4'], { workers: 1 });
    const served = new Array<number>(8).fill(0);
    let failed = 0;
    const until = performance.now() + 2000;
    // Eight clients, each on a keep-alive connection of its own (reopened when the server closes it),
    // sending one request after another.
    await Promise.all(
      served.map(async (_, i) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          while (performance.now() < until) {
            const reply = await request(unicorn.url(), { agent, timeoutMs: 10_000 }).catch(() => undefined);
            // Counted while all eight send: a client let in once the others stop has not had its turn.
            if (reply?.status !== 200) failed++;
            else if (performance.now() < until) served[i]!++;
          }
        } finally {
          agent.destroy();
        }
      }),
    );
    expect(failed).toBe(0);
    for (const count of served) expect(count).toBeGreaterThan(0);
  });
});
