/**
 * Sockets as libuv handles (TCP and Pipe wraps), below node:net's servers: what holds a listening
 * socket without accepting on it (the arbiter, the emperor), and what accepts on one only for a while.
 */
import net from 'node:net';

/** A bound socket's libuv handle, as node:cluster's primary holds one. */
export interface ServerHandle {
  fd: number;
  close(): void;
  getsockname?(out: { address?: string; port?: number }): number;
}

/** A connected socket's handle, bare: nothing read from it (ConnectionHandle in src/ipc.ts). */
export interface ClientHandle {
  close(): void;
}

/** A listening socket's handle that accepts for a while: listen(2) and each connection, unread. */
export interface ListenHandle {
  close(): void;
  listen(backlog: number): number;
  onconnection: ((status: number, client?: ClientHandle) => void) | null;
}

/**
 * `net._createServerHandle` binds without listening (or wraps the descriptor `fd`). It is what
 * node:cluster's primary uses to share a socket with workers (SCHED_NONE), for the same reason: the
 * process that holds the socket must not accept on it, and every public way to listen also starts
 * accepting. Returns a negative errno on failure.
 */
export const createServerHandle = (
  net as unknown as {
    _createServerHandle(address: string | null, port: number, addressType: number, fd?: number): ServerHandle | number;
  }
)._createServerHandle;
