import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { inFlight, request } from '../helpers/http';
import { connect, responses } from '../helpers/raw';
import { APPS, isAlive, serve, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/** One request on its own connection: `connected` once the kernel has queued the connection (a
 *  worker may not have accepted it yet); `status` is the reply's, or the error that ended it. */
function queuedRequest(unicorn: Unicorn, path: string): { connected: Promise<unknown>; status: Promise<number | string> } {
  const socket = connect(unicorn.url());
  const connected = once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  let reply = '';
  socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
  const status = new Promise<number | string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('close', () => resolve(responses(reply)[0]?.status ?? 'closed with no reply'));
  });
  return { connected, status };
}

describe('stopping', () => {
  it.each(['sync', 'async'])('SIGTERM lets an in-flight request finish, then exits 0 (%s)', async (workerClass) => {
    const unicorn = await serve(ROUTES, ['-k', workerClass], { workers: 2 });
    const workers = unicorn.workerPids();
    const held = inFlight(`${unicorn.url()}/hold?ms=1000`);
    await held.handling;
    unicorn.signal('SIGTERM');
    const reply = await held.reply;
    expect(reply).toMatchObject({ status: 200, body: expect.stringMatching(/^held \d+/) });
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(unicorn.logs.map((l) => l.msg)).toContain('Shutting down: Master');
    // The arbiter waits for its workers before it exits: none is left once it has.
    expect(workers.filter(isAlive)).toEqual([]);
  });

  it('answers a request in flight at SIGTERM with Connection: close', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = request(`${unicorn.url()}/slow?ms=500`, { agent });
      await unicorn.waitForOutput('slow started');
      unicorn.signal('SIGTERM');
      expect(await reply).toMatchObject({ status: 200, headers: { connection: 'close' } });
      expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });

  it('workers finish in-flight requests and exit when the arbiter is killed', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const workers = unicorn.workerPids();
    const held = inFlight(`${unicorn.url()}/hold?ms=1000`);
    await held.handling;
    unicorn.signal('SIGKILL');
    expect(await held.reply).toMatchObject({ status: 200, body: expect.stringMatching(/^held/) });
    await unicorn.outputClosed;
    expect(await waitUntilGone(workers)).toEqual([]);
    expect(unicorn.logs.filter((l) => l.reason === 'arbiter gone')).toHaveLength(2);
  });

  it('refuses new connections once stopped gracefully', async () => {
    const unicorn = await serve(ROUTES);
    const url = unicorn.url();
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    await expect(request(url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('kills workers still busy at --graceful-timeout', async () => {
    const unicorn = await serve(ROUTES, ['--graceful-timeout', '300ms']);
    const held = inFlight(`${unicorn.url()}/hold?ms=20000`);
    await held.handling;
    const began = Date.now();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - began).toBeLessThan(5000);
    expect(unicorn.lines('Killing worker (pid:')).toHaveLength(1);
    expect(await held.reply).toEqual({ error: expect.stringMatching(/socket hang up|aborted|ECONNRESET/) });
  });

  it.each(['SIGINT', 'SIGQUIT'] as const)('%s stops quickly and exits 0', async (signal) => {
    const socketPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-')), 'q.sock');
    const unicorn = start(['-w', '2', '-b', `unix:${socketPath}`, ROUTES]);
    await unicorn.ready(2);
    const held = inFlight('http://localhost/hold?ms=20000', { socketPath });
    await held.handling;
    const began = Date.now();
    unicorn.signal(signal);
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - began).toBeLessThan(5000);
    expect(await held.reply).toEqual({ error: expect.stringMatching(/socket hang up|aborted|ECONNRESET/) });
    expect(existsSync(socketPath)).toBe(false);
  });

  // Eight requests of 0.4 s over two workers take about 1.6 s: well within --graceful-timeout. Those
  // no worker has accepted yet wait in the listening sockets' queue, and are served all the same.
  it.each([
    ['sync', '/slow?ms=400'],
    ['async', '/cpu?ms=400'],
    ['sync --reuse-port', '/slow?ms=400'],
  ])('SIGTERM serves the connections already queued on the listening sockets (-k %s)', async (workerClass, route) => {
    const unicorn = await serve(ROUTES, ['-k', ...workerClass.split(' '), '--graceful-timeout', '10s'], { workers: 2 });
    const burst = Array.from({ length: 8 }, () => queuedRequest(unicorn, route));
    await Promise.all(burst.map((r) => r.connected));
    unicorn.signal('SIGTERM');
    expect(await Promise.all(burst.map((r) => r.status))).toEqual(Array(8).fill(200));
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
  });

  it('keeps a unix socket file while workers die', async () => {
    const socketPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-')), 'keep.sock');
    const unicorn = start(['-b', `unix:${socketPath}`, ROUTES]);
    await unicorn.ready(1);
    process.kill(unicorn.workerPids()[0]!, 'SIGKILL');
    await unicorn.waitForLog((l) => l.msg.includes('was killed by signal SIGKILL'), 'the exit line');
    expect(existsSync(socketPath)).toBe(true);
    expect((await request('http://localhost/', { socketPath })).status).toBe(200);
  });
});
