/**
 * A sync worker's side of handing connections back to the arbiter (arbiter/relay.ts): a connection
 * it accepted and will not start soon goes back unread, as its bare handle, and one the arbiter
 * passes it arrives the same way. Bare handles, not net.Sockets: Node makes a received net.Socket
 * reading at once, and bytes read in the arbiter would be lost to the worker that serves it.
 */
import net, { type Socket } from 'node:net';
import type { ConnectionHandle } from '../ipc';
import type { Logger } from '../shared/log';

/** The IPC channel to the arbiter, as the hand-back uses it. */
export interface ToArbiterChannel {
  connected(): boolean;
  /** Send `handle` with `unicorn:hand-back`; `sent` once the message carrying it is written. */
  send(handle: ConnectionHandle, sent: () => void): void;
}

/**
 * Take a paused, unread socket's handle for sending: the socket is left destroyed (without closing
 * the handle, which it no longer has), and the handle is closed once sent, as Node does for a
 * net.Socket it sends.
 */
function detach(socket: Socket): ConnectionHandle {
  const internal = socket as Socket & { _handle: (ConnectionHandle & { onread?: unknown }) | null };
  const handle = internal._handle!;
  handle.onread = () => {};
  internal._handle = null;
  socket.destroy();
  return handle;
}

/** A socket for a connection handle the arbiter passed: paused, nothing read, as the accept gate's
 *  servers make the connections they accept for a sync worker. */
export function adoptConnection(handle: ConnectionHandle): Socket {
  // `handle` and `pauseOnCreate` are how net.Server makes its accepted sockets (and child_process a
  // received one): not in the public options' type.
  const options = { handle, pauseOnCreate: true, readable: true, writable: true, allowHalfOpen: true };
  const socket = new net.Socket(options as unknown as net.SocketConstructorOpts);
  socket.setNoDelay(true);
  return socket;
}

/**
 * Hands connections back, and logs each batch once every handle in it is out (a test waits for that
 * line before it kills the worker: what is out survives the worker).
 */
export class HandBack {
  constructor(
    private readonly channel: ToArbiterChannel,
    private readonly log: Logger,
  ) {}

  /** Send `sockets` to the arbiter; false, sending none, when there is no arbiter to take them. */
  send(sockets: Socket[], why: 'busy' | 'stopping'): boolean {
    if (!this.channel.connected()) return false;
    const live = sockets.filter((socket) => !socket.destroyed);
    let written = 0;
    for (const socket of live) {
      const handle = detach(socket);
      this.channel.send(handle, () => {
        handle.close();
        if (++written === live.length)
          this.log.debug(
            { connections: written, why },
            `Handed back ${written} connection${written === 1 ? '' : 's'} not started (${why})`,
          );
      });
    }
    return true;
  }
}
