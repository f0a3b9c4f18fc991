/**
 * The worker's accept gate on real sockets, in this process: a listening socket whose only
 * descriptor the gate holds stands for a --reuse-port socket the arbiter has withdrawn (its last
 * copy), with connections queued on it. The whole hand-over, between real processes, is in
 * test/integration/reuse-port.test.ts.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { SPARE_DESCRIPTORS } from '../../src/shared/descriptors';
import type { Logger } from '../../src/shared/log';
import { AcceptGate, type RawHandle } from '../../src/worker/accept';

const log = { warn: () => {}, info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;

/** A listening TCP socket whose only descriptor is the one returned: a child binds and listens,
 *  sends it over IPC and exits without accepting (nothing connects before it has). */
async function onlyCopyOfListeningSocket(): Promise<{ handle: RawHandle; port: number }> {
  const code = `const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }, s._handle, () => process.exit(0)));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const received = new Promise<{ handle: RawHandle; port: number }>((resolve) =>
    child.once('message', (msg: { port: number }, handle) => resolve({ handle: handle as unknown as RawHandle, port: msg.port })),
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const [got] = await Promise.all([received, exited]);
  return got;
}

const openNow = () => readdirSync('/proc/self/fd').length - 1;

const clients: net.Socket[] = [];
const accepted: net.Socket[] = [];
afterEach(() => {
  for (const socket of [...clients.splice(0), ...accepted.splice(0)]) socket.destroy();
});

/** Connect `count` clients and resolve once each is established: queued on the socket. */
async function queue(port: number, count: number): Promise<{ reset: () => number }> {
  let reset = 0;
  await Promise.all(
    Array.from({ length: count }, () => {
      const socket = net.connect({ host: '127.0.0.1', port });
      clients.push(socket);
      socket.on('error', () => reset++);
      return new Promise((resolve) => socket.once('connect', resolve));
    }),
  );
  return { reset: () => reset };
}

describe('AcceptGate', () => {
  it('asks for no new copy as it closes', async () => {
    const { handle } = await onlyCopyOfListeningSocket();
    let asked = 0;
    const gate = new AcceptGate({
      listenerCount: 1,
      backlog: 511,
      onConnection: () => {},
      pauseOnConnect: false,
      requestHandle: () => asked++,
      onListening: () => {},
      descriptorLimit: undefined,
      log,
    });
    gate.addHandle(0, handle);
    gate.resume();
    const before = asked;
    await gate.close();
    // The arbiter refuses a stopping worker's asks: each would be a wasted message.
    expect(asked - before).toBe(0);
  });

  it('takes what is queued on the last copy only once an EMFILE back-off has ended', async () => {
    const { handle, port } = await onlyCopyOfListeningSocket();
    // Short of descriptors until these are closed: the back-off's count, every second, pauses it.
    const spare = Array.from({ length: 2 * SPARE_DESCRIPTORS }, () => openSync('/dev/null', 'r'));
    let warned: () => void = () => {};
    const backingOff = new Promise<void>((resolve) => (warned = resolve));
    const gate = new AcceptGate({
      listenerCount: 1,
      backlog: 511,
      onConnection: (socket) => accepted.push(socket),
      pauseOnConnect: true,
      requestHandle: () => {},
      onListening: () => {},
      descriptorLimit: openNow() + SPARE_DESCRIPTORS / 2,
      log: { ...log, warn: () => warned() } as unknown as Logger,
    });
    try {
      await backingOff;
      const clientsQueued = await queue(port, 5);
      // The last copy, and the hand-over that says so, come while the gate backs off.
      gate.addHandle(0, handle);
      const closed = gate.close(true);
      setTimeout(() => {
        for (const fd of spare.splice(0)) closeSync(fd);
      }, 300);
      await closed;
      expect(accepted.length).toBe(5);
      expect(clientsQueued.reset()).toBe(0);
    } finally {
      for (const fd of spare) closeSync(fd);
      await gate.close();
    }
  });
});
