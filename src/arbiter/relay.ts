/**
 * The arbiter's side of the connections sync workers hand back (docs/DESIGN.md, "A sync worker holds
 * only what it has started"). A sync worker that has accepted a connection it cannot start soon (its
 * request outlived its turn of the event loop, or it is stopping) sends it here unread; the relay
 * holds it until a sync worker says it is free, and passes it to that one. Only handles
 * pass through: the arbiter never reads a byte of them, so the worker that gets one serves it as a
 * fresh connection (PROXY header, TLS handshake and all).
 */

/** A connected socket's handle as it arrives over IPC (a libuv TCP or Pipe wrap). */
export interface ConnectionHandle {
  close(): void;
}

/** What the relay needs of the arbiter. */
export interface RelayWorkers {
  /** Sync workers that serve (not booting, not stopping), by id. */
  serving(): Iterable<number>;
  isServing(id: number): boolean;
  /** The server is shutting down: a stopping worker that is free serves what is held, no one else will. */
  stopping(): boolean;
  /** Send `handle` to worker `id` with `unicorn:connection` (closing the arbiter's copy once sent);
   *  false if the worker is gone. */
  pass(id: number, handle: ConnectionHandle): boolean;
  /** Answer worker `id`'s `free` with `unicorn:no-connection`. */
  noConnection(id: number): void;
  /** Tell worker `id` that connections are held (`unicorn:holding`): it asks once it is free. */
  tellHolding(id: number): void;
}

/**
 * Connections go only to a worker that has just said it is free (`unicorn:free`), and it accepts
 * nothing until the answer: one passed unasked to a worker that is in fact busy would wait there,
 * and die with it, until it came back. Workers learn that there is something to ask for when the
 * relay starts holding (`unicorn:holding`); one that has handed back or been passed a connection
 * asks anyway, once free.
 */
export class ConnectionRelay {
  /** Connections handed back and not yet passed on, oldest first. */
  private readonly held: ConnectionHandle[] = [];

  constructor(private readonly workers: RelayWorkers) {}

  get holding(): number {
    return this.held.length;
  }

  /** Worker `id` gave `handle` back: it is busy or stopping, and asks once free. */
  handedBack(id: number, handle: ConnectionHandle): void {
    this.held.push(handle);
    if (this.held.length > 1) return;
    for (const other of this.workers.serving()) if (other !== id) this.workers.tellHolding(other);
  }

  /** Worker `id` is free (`stopping`: and exits unless given a connection); it waits for the answer. */
  free(id: number, stopping: boolean): void {
    const mayTake = stopping ? this.workers.stopping() : this.workers.isServing(id);
    const handle = mayTake ? this.held.shift() : undefined;
    if (handle && this.workers.pass(id, handle)) return;
    if (handle) this.held.unshift(handle);
    this.workers.noConnection(id);
  }

  /** Worker `id` has become ready: it may ask for what is held. */
  ready(id: number): void {
    if (this.held.length > 0) this.workers.tellHolding(id);
  }
}
