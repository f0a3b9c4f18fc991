/**
 * The arbiter's side of the connections sync workers hand back (docs/DESIGN.md, "A sync worker holds
 * only what it has started"). A sync worker that has accepted a connection it cannot start soon (its
 * request outlived its turn of the event loop, or it is stopping) sends it here unread; the relay
 * passes it to a sync worker it takes to be free, or holds it until one says it is. Only handles
 * pass through: the arbiter never reads a byte of them, so the worker that gets one serves it as a
 * fresh connection (PROXY header, TLS handshake and all).
 */

/** A connected socket's handle as it arrives over IPC (a libuv TCP or Pipe wrap). */
export interface ConnectionHandle {
  close(): void;
}

/** What the relay needs of the arbiter. */
export interface RelayWorkers {
  /** Sync workers that serve and may be passed a connection unasked (not booting, not stopping). */
  serving(): Iterable<number>;
  isServing(id: number): boolean;
  /** The server is shutting down: a stopping worker that is free serves what is held, no one else will. */
  stopping(): boolean;
  /** Send `handle` to worker `id` with `unicorn:connection` (closing the arbiter's copy once sent);
   *  false if the worker is gone. */
  pass(id: number, handle: ConnectionHandle): boolean;
  /** Answer worker `id`'s `free` with `unicorn:no-connection`. */
  noConnection(id: number): void;
}

export class ConnectionRelay {
  /** Connections handed back and not yet passed on, oldest first. */
  private readonly held: ConnectionHandle[] = [];
  /** Workers that handed back or were passed a connection and have not said they are free since:
   *  busy, or about to be. A worker that says nothing is taken to be free. */
  private readonly engaged = new Set<number>();

  constructor(private readonly workers: RelayWorkers) {}

  get holding(): number {
    return this.held.length;
  }

  /** Worker `id` gave `handle` back: it is busy or stopping. */
  handedBack(id: number, handle: ConnectionHandle): void {
    this.engaged.add(id);
    this.held.push(handle);
    this.passHeld();
  }

  /** Worker `id` is free (`stopping`: and exits unless given a connection); it waits for the answer. */
  free(id: number, stopping: boolean): void {
    this.engaged.delete(id);
    const mayTake = stopping ? this.workers.stopping() : this.workers.isServing(id);
    const handle = mayTake ? this.held.shift() : undefined;
    if (handle && this.workers.pass(id, handle)) this.engaged.add(id);
    else {
      if (handle) this.held.unshift(handle);
      this.workers.noConnection(id);
      // A stopping worker is about to exit: nothing is passed to it unasked.
      if (stopping) this.engaged.add(id);
    }
    this.passHeld();
  }

  /** A worker may have become free to take connections (it is ready). */
  offer(): void {
    this.passHeld();
  }

  /** Worker `id` has exited. */
  gone(id: number): void {
    this.engaged.delete(id);
  }

  /** Pass held connections, oldest first, one to each serving worker not engaged. */
  private passHeld(): void {
    if (this.held.length === 0) return;
    for (const id of this.workers.serving()) {
      if (this.engaged.has(id)) continue;
      const handle = this.held.shift()!;
      if (!this.workers.pass(id, handle)) {
        this.held.unshift(handle);
        continue;
      }
      this.engaged.add(id);
      if (this.held.length === 0) return;
    }
  }
}
