/**
 * The copies of the listening sockets the arbiter accepts on while no worker runs (--idle-timeout;
 * docs/DESIGN.md, "Elastic workers"). The arbiter's own handle of each socket must stay open and
 * never accept: libuv stops accepting on a handle only by closing it, and closing the arbiter's
 * would give up the port and its queue. So a worker lends a copy of each (a raw handle sent over
 * IPC is a new descriptor here, and stays open in the worker), the arbiter accepts on the copies
 * while the workers are stopped and started again, and closes them once a worker accepts.
 */
import type { ConnectionHandle } from '../../ipc';
import { FreeDescriptors } from '../../shared/descriptors';
import type { Logger } from '../../shared/log';
import type { ListenHandle } from '../../shared/raw-handle';

export type { ListenHandle };

export class LentListeners {
  /** By listener index: the copy lent, null for one the worker had none of, undefined for none yet. */
  private copies: Array<ListenHandle | null | undefined> = [];
  private accepting = false;
  private readonly descriptors = new FreeDescriptors();

  constructor(private readonly log: Logger) {}

  /** Expect `count` copies, one of each listener; any held before are closed. */
  expect(count: number): void {
    this.close();
    this.copies = new Array<undefined>(count).fill(undefined);
  }

  /** The copy of listener `index` came (or the worker had none: `handle` undefined). */
  lent(index: number, handle: ListenHandle | undefined): void {
    if (index < 0 || index >= this.copies.length || this.copies[index] !== undefined) {
      handle?.close();
      return;
    }
    this.copies[index] = handle ?? null;
  }

  /** Every listener's copy has come. */
  get complete(): boolean {
    return this.copies.length > 0 && this.copies.every((copy) => copy);
  }

  /** The worker had no spare copy of some listener: this round of lending failed. */
  get refused(): boolean {
    return this.copies.includes(null);
  }

  get listening(): boolean {
    return this.accepting;
  }

  /** Accept on every copy, passing each connection, unread, to `onConnection`. False (and every copy
   *  closed) if one cannot listen. */
  listen(backlog: number, onConnection: (connection: ConnectionHandle) => void): boolean {
    for (const [index, copy] of this.copies.entries()) {
      copy!.onconnection = (status, client) => {
        // A failed accept (out of descriptors) leaves the connection queued for the next one.
        if (status < 0 || !client) this.log.warn({ listener: index, status }, 'The arbiter could not accept a connection');
        else onConnection(client);
        if (client) this.tookOne();
      };
      const err = copy!.listen(backlog);
      if (err !== 0) {
        this.log.error({ listener: index, err }, 'The arbiter could not accept on a lent copy of a listener');
        this.close();
        return false;
      }
    }
    this.accepting = true;
    this.descriptors.recount();
    return true;
  }

  /**
   * A connection was accepted and is held. An accept that fails for want of a descriptor makes libuv
   * accept and close every connection queued (its EMFILE trick), and a fork needs descriptors too;
   * so once few are free the copies close, and the rest wait in the backlog for the workers, which
   * the connections held have woken.
   */
  private tookOne(): void {
    if (this.descriptors.took()) return;
    const { left, limit } = this.descriptors;
    this.log.warn(
      { limit, free: left },
      `Out of file descriptors (${left} of ${limit} free): the arbiter stops accepting; new connections wait in the backlog for the workers`,
    );
    this.close();
  }

  /** Stop accepting and let go of every copy (the listeners themselves stay open). */
  close(): void {
    for (const copy of this.copies) copy?.close();
    this.copies = [];
    this.accepting = false;
  }
}
