/**
 * The arbiter's side of the connections sync workers hand back (docs/DESIGN.md, "A sync worker holds
 * only what it has started"). A sync worker that has accepted a connection it cannot start soon (its
 * request outlived its turn of the event loop, or it is stopping) sends it here unread; the relay
 * holds it until a sync worker says it is free, and passes it to that one, or passes it at once to an
 * async worker (after a reload from sync to async, the only ones left to serve it). Only handles
 * pass through: the arbiter never reads a byte of them, so the worker that gets one serves it as a
 * fresh connection (PROXY header, TLS handshake and all). Connections the arbiter accepts itself
 * while no worker runs (--idle-timeout, elastic/) wait here the same way for the first worker ready.
 */

import type { ConnectionHandle } from '../ipc';

/** What the relay needs of the arbiter. */
export interface RelayWorkers {
  /** Sync workers that serve (not booting, not stopping), by id: they ask for what is held. */
  servingSync(): Iterable<number>;
  isServingSync(id: number): boolean;
  /** Async workers that serve, by id: they take a connection unasked, as they take their own. A
   *  reload from sync to async leaves only these to serve what the old workers handed back. */
  servingAsync(): number[];
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
 * A sync worker gets a connection only when it has just said it is free (`unicorn:free`), and it
 * accepts nothing until the answer (or for a moment: worker/classes/sync.ts): one passed unasked to a sync
 * worker that is in fact busy would wait there, and die with it, until it came back. Sync workers
 * learn that there is something to ask for when the relay starts holding (`unicorn:holding`); one
 * that has handed back or been passed a connection asks anyway, once free. An async worker serves
 * connections side by side, so it is passed one at once, taking turns with the others; while any
 * serves, nothing is held.
 */
export class ConnectionRelay {
  /** Connections handed back and not yet passed on, oldest first. */
  private readonly held: ConnectionHandle[] = [];
  /** Which async worker takes the next connection, counting turns. */
  private turn = 0;

  constructor(private readonly workers: RelayWorkers) {}

  get holding(): number {
    return this.held.length;
  }

  /** Worker `id` gave `handle` back: it is busy or stopping, and (sync) asks once free. */
  handedBack(id: number, handle: ConnectionHandle): void {
    this.take(handle, id);
  }

  /** The arbiter accepted `handle` itself, on the copies it accepts on while no worker runs
   *  (elastic/lent-listeners.ts): it waits here for the first worker ready, as one handed back does. */
  arrived(handle: ConnectionHandle): void {
    this.take(handle);
  }

  /** Pass `handle` to an async worker now, or hold it and tell the sync ones (but `from`, which gave it). */
  private take(handle: ConnectionHandle, from?: number): void {
    if (this.passToAsync(handle, from)) return;
    this.held.push(handle);
    if (this.held.length > 1) return;
    for (const other of this.workers.servingSync()) if (other !== from) this.workers.tellHolding(other);
  }

  /** Worker `id` is free (`stopping`: and exits unless given a connection); it waits for the answer. */
  free(id: number, stopping: boolean): void {
    const mayTake = stopping ? this.workers.stopping() : this.workers.isServingSync(id);
    const handle = mayTake ? this.held.shift() : undefined;
    if (handle && this.workers.pass(id, handle)) return;
    if (handle) this.held.unshift(handle);
    this.workers.noConnection(id);
  }

  /** Worker `id` has become ready: a sync one may ask for what is held; async ones take it now. */
  ready(id: number): void {
    if (this.held.length === 0) return;
    if (this.workers.isServingSync(id)) {
      this.workers.tellHolding(id);
      return;
    }
    for (let handle = this.held.shift(); handle; handle = this.held.shift()) {
      if (this.passToAsync(handle)) continue;
      this.held.unshift(handle);
      return;
    }
  }

  /** Pass everything held to async worker `id`, serving or stopping: the server is shutting down,
   *  and it alone will serve them. */
  passAll(id: number): void {
    for (let handle = this.held.shift(); handle; handle = this.held.shift()) {
      if (this.workers.pass(id, handle)) continue;
      this.held.unshift(handle);
      return;
    }
  }

  /** An on-demand vassal leaves (vassal/vassal.ts): everything held, for the emperor to serve with the next start. */
  takeAll(): ConnectionHandle[] {
    return this.held.splice(0);
  }

  /** Pass `handle` to the next serving async worker but `except` (which gave it back); false if none took it. */
  private passToAsync(handle: ConnectionHandle, except?: number): boolean {
    const takers = this.workers.servingAsync().filter((id) => id !== except);
    for (let tries = 0; tries < takers.length; tries++) {
      if (this.workers.pass(takers[this.turn++ % takers.length]!, handle)) return true;
    }
    return false;
  }
}
