/**
 * Slow clients (docs/security.md): hundreds of connections sending their heads a byte a second
 * hold an async worker's connection slots, not its event loop — a normal client is answered at
 * once — and --header-timeout ends each of them with 408.
 */

import type net from 'node:net';
import path from 'node:path';
import { request } from '../helpers/http';
import { connect, responses } from '../helpers/raw';
import { APPS, serve } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SLOW_CLIENTS = 300;
const HEAD = 'GET /slow-client HTTP/1.1\r\nHost: x\r\nUser-Agent: trickle\r\n\r\n';

interface SlowClient {
  socket: net.Socket;
  reply: string;
  closed: Promise<void>;
}

/** A client that sends `HEAD` a byte every `everyMs`, starting at once, until the server closes. */
function trickle(url: string, everyMs: number): SlowClient {
  const socket = connect(url);
  const client: SlowClient = { socket, reply: '', closed: new Promise((resolve) => socket.once('close', () => resolve())) };
  let sent = 0;
  const send = () => {
    if (!socket.destroyed && socket.writable && sent < HEAD.length) socket.write(HEAD[sent++]!);
  };
  socket.once('connect', send);
  const timer = setInterval(send, everyMs);
  socket.once('close', () => clearInterval(timer));
  socket.on('data', (chunk: Buffer) => (client.reply += chunk.toString('latin1')));
  socket.on('error', () => {});
  return client;
}

describe('slow clients', () => {
  it(`do not keep an async worker from answering a normal client, and --header-timeout ends them with 408 (${SLOW_CLIENTS} clients)`, async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--header-timeout', '3']);
    const started = performance.now();
    const slow = Array.from({ length: SLOW_CLIENTS }, () => trickle(unicorn.url(), 1000));
    // Every slow client has begun its head (one byte) before the normal client asks.
    await Promise.all(
      slow.map(
        ({ socket }) =>
          new Promise<void>((resolve) => (socket.bytesWritten > 0 ? resolve() : socket.once('connect', () => setImmediate(resolve)))),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));

    const reply = await request(`${unicorn.url()}/normal`);
    expect(reply.status).toBe(200);
    // A bound that only a stall would pass: the worker answers in a millisecond or two when idle.
    expect(reply.ms).toBeLessThan(1000);
    // The slow clients were still there, trickling, while it was answered.
    expect(slow.filter(({ socket }) => socket.destroyed)).toHaveLength(0);

    // Their heads are not done at a byte a second: each is answered 408 and closed, at 3 s to
    // 3.3 s (Node looks every tenth of the timeout), with room for a loaded machine.
    await Promise.all(slow.map(({ closed }) => closed));
    expect(performance.now() - started).toBeLessThan(10_000);
    const statuses = slow.map(({ reply: raw }) => responses(raw)[0]?.status);
    expect(statuses.filter((status) => status !== 408)).toEqual([]);
  }, 30_000);
});
