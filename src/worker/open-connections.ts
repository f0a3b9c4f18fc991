import type { Socket } from 'node:net';

/** Where a tracked socket sits in the list. */
const SLOT = Symbol('slot');
type Slotted = Socket & { [SLOT]?: number };

/**
 * The connections a worker has open, added as they are given to the HTTP server and removed as they
 * close: an array whose members know their place, so that a close moves the last member into the
 * gap. Every connection passes through it, and a Set's hashing and rehashing cost measurably more
 * per connection under connection churn (benchmarks/RESULTS.md).
 */
export class OpenConnections implements Iterable<Socket> {
  private readonly list: Slotted[] = [];

  get size(): number {
    return this.list.length;
  }

  add(socket: Slotted): void {
    if (socket[SLOT] !== undefined) return;
    socket[SLOT] = this.list.length;
    this.list.push(socket);
  }

  delete(socket: Slotted): void {
    const slot = socket[SLOT];
    if (slot === undefined) return;
    socket[SLOT] = undefined;
    const last = this.list.pop()!;
    if (last === socket) return;
    this.list[slot] = last;
    last[SLOT] = slot;
  }

  /** A copy: whoever walks it may close connections as it goes. */
  [Symbol.iterator](): Iterator<Socket> {
    return this.list.slice()[Symbol.iterator]();
  }
}
