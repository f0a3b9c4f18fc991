/**
 * --reuse-port: each worker accepts on a SO_REUSEPORT socket of its own for every TCP address, and
 * the kernel spreads new connections over the sockets (by a hash of the client's address and port)
 * instead of every worker taking from one shared queue.
 *
 * The arbiter binds the sockets and holds them, as it holds a shared one; workers get copies and
 * pause by closing theirs (worker/accept.ts), unchanged. So a worker that dropped its privileges
 * still accepts on port 80, a pause does not close the socket (closing the last copy of a
 * SO_REUSEPORT socket resets every connection queued on it), and a worker's socket outlives the
 * worker: its replacement (a respawn, a recycled or reloaded worker) takes it over, with the
 * connections waiting there. A socket is closed only when there are more of them than workers:
 * a stopped worker's as it stops accepting, for the kernel to send nothing more there (withdraw).
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Logger } from '../shared/log';
import { UV_TCP_REUSEPORT } from '../shared/reuse-port-support';
import type { Listener, ServerHandle } from './listener';

const createServerHandle = (
  net as unknown as {
    _createServerHandle(address: string, port: number, addressType: number, fd: undefined, flags: number): ServerHandle | number;
  }
)._createServerHandle;

/** A SO_REUSEPORT socket bound to `host`:`port`, not yet listening; or the error code. */
export function bindReusePort(host: string, port: number): ServerHandle | string {
  const handle = createServerHandle(host, port, net.isIPv6(host) ? 6 : 4, undefined, UV_TCP_REUSEPORT);
  return typeof handle === 'number' ? getSystemErrorName(handle) : handle;
}

/**
 * Whether something accepts at `host`:`port` already. A server of the same user listening there
 * with SO_REUSEPORT would let this one's sockets join its own, and the two would share the port
 * without a word; so the arbiter looks before it binds. A wildcard address is asked on loopback.
 */
export function somethingListens(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return new Promise((resolve) => {
    const socket = net.connect({ host: target, port });
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** One socket of each --reuse-port listener, for one worker (and its replacement while both serve). */
interface Slot {
  /** By listener index. */
  handles: Map<number, ServerHandle>;
  /** The workers that accept on it. */
  holders: Set<number>;
}

/**
 * The per-worker sockets of the --reuse-port listeners. Slot 0 is the listeners' own sockets, bound
 * and listening before the first fork and handed down on USR2; each further slot is bound when a
 * worker needs one and starts listening when the worker does (the arbiter's way of listening
 * without accepting spawns a process: not something to do in its loop). A slot is free when none of its
 * holders counts (booting or serving in the current configuration): a worker being replaced, or
 * one of the previous configuration during a reload, leaves its socket to the new worker, and the
 * two accept on it until the old one exits.
 */
export class PerWorkerSockets {
  private readonly slots: Slot[];
  private readonly byWorker = new Map<number, Slot>();
  /** Withdrawn sockets whose last copy is on its way to their worker, by worker. */
  private readonly handingOver = new Map<number, ServerHandle[]>();

  constructor(
    private readonly listeners: Listener[],
    private readonly log: Logger,
  ) {
    const own = listeners.flatMap((listener, index) => (listener.reusePort ? [[index, listener.handle] as const] : []));
    this.slots = [{ handles: new Map(own), holders: new Set() }];
  }

  /** Some listener gives each worker a socket of its own. */
  get active(): boolean {
    return this.listeners.some((listener) => listener.reusePort);
  }

  /** The sockets bound beyond the listeners' own (slot 0), each as its listener with that handle: the
   *  kernel queues connections on each of them apart. */
  get furtherSockets(): Listener[] {
    return this.slots.slice(1).flatMap((slot) => [...slot.handles].map(([index, handle]) => ({ ...this.listeners[index]!, handle })));
  }

  /** How many sockets each --reuse-port listener has now. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * The socket worker `id` accepts on for listener `index`: the shared one, or its slot's, given
   * at its first ask. `counts` says whether a worker is one of those the target is made of.
   */
  handleFor(index: number, id: number, counts: (id: number) => boolean): ServerHandle {
    const listener = this.listeners[index]!;
    if (!listener.reusePort) return listener.handle;
    let slot = this.byWorker.get(id);
    if (!slot) {
      slot = this.slots.find((s) => ![...s.holders].some(counts)) ?? this.addSlot() ?? this.slots[0]!;
      slot.holders.add(id);
      this.byWorker.set(id, slot);
    }
    return slot.handles.get(index)!;
  }

  /**
   * Worker `id` is being stopped. When no other worker accepting (`accepting`) holds its sockets
   * and the workers need fewer than there are (`keep`), the arbiter lets go of them now, not once
   * the worker has drained: the kernel goes on sending new connections to a socket of the port
   * until its last copy is closed, and those would wait there for the drain, then be reset. The
   * sockets are returned for the caller to hand the worker one more copy of each, then close its
   * own: the worker's copies are the last, and it accepts what is queued before closing them.
   * Undefined when the sockets stay, for the workers that accept on them or will. `firstShared`:
   * the first sockets are another arbiter's too (a USR2 successor or predecessor).
   */
  withdraw(id: number, keep: number, accepting: (id: number) => boolean, firstShared: boolean): Map<number, ServerHandle> | undefined {
    const slot = this.byWorker.get(id);
    if (!slot || this.slots.length <= Math.max(1, keep) || [...slot.holders].some((holder) => holder !== id && accepting(holder)))
      return undefined;
    // Another arbiter (USR2) accepts on the first sockets too: they stay, and the others can go.
    if (firstShared && slot === this.slots[0]) return undefined;
    for (const holder of slot.holders) this.byWorker.delete(holder);
    this.remove(this.slots.indexOf(slot));
    this.handingOver.set(id, [...slot.handles.values()]);
    return slot.handles;
  }

  /** The arbiter's copy of a withdrawn socket is in the worker's hands: close it (idempotent). */
  handedOver(id: number, handle: ServerHandle): void {
    handle.close();
    const rest = this.handingOver.get(id)?.filter((h) => h !== handle);
    if (rest?.length) this.handingOver.set(id, rest);
    else this.handingOver.delete(id);
  }

  /** Worker `id` has exited: its slot stays for its replacement, within `keep` slots. */
  release(id: number, keep: number): void {
    this.byWorker.get(id)?.holders.delete(id);
    this.byWorker.delete(id);
    // Withdrawn sockets whose copy never reached it (it died first) are closed now.
    for (const handle of this.handingOver.get(id) ?? []) this.handedOver(id, handle);
    this.trim(keep);
  }

  /**
   * Close the sockets no worker holds beyond `keep` slots (the target, at least one), the newest
   * first: nothing would accept what the kernel sends them. Connections already queued on one are
   * reset when it closes, unless the kernel moves them to another socket of the port
   * (net.ipv4.tcp_migrate_req). When the first slot goes (its worker was the one stopped), the next
   * becomes the listeners' own socket, the one a USR2 successor inherits.
   */
  trim(keep: number): void {
    for (let i = this.slots.length - 1; i >= 0 && this.slots.length > Math.max(1, keep); i--) {
      const slot = this.slots[i]!;
      if (slot.holders.size > 0) continue;
      for (const handle of slot.handles.values()) handle.close();
      this.remove(i);
    }
  }

  /** At a stop: close every socket but the listeners' own (closed with the listeners). */
  closeAll(): void {
    for (const slot of this.slots.splice(1)) for (const handle of slot.handles.values()) handle.close();
    for (const handles of this.handingOver.values()) for (const handle of handles) handle.close();
    this.handingOver.clear();
  }

  /** Forget slot `i`; when it is the first, the next becomes the listeners' own socket. */
  private remove(i: number): void {
    this.slots.splice(i, 1);
    if (i === 0) for (const [index, handle] of this.slots[0]!.handles) this.listeners[index]!.handle = handle;
  }

  /** Bind one more socket for each --reuse-port listener, on the port the first one has; undefined
   *  (and logged) when one cannot be bound, and the worker shares slot 0. */
  private addSlot(): Slot | undefined {
    const handles = new Map<number, ServerHandle>();
    for (const [index, first] of this.slots[0]!.handles) {
      const where: { address?: string; port?: number } = {};
      first.getsockname?.(where);
      const bound = bindReusePort(where.address!, where.port!);
      if (typeof bound === 'string') {
        for (const handle of handles.values()) handle.close();
        this.log.error(
          { code: bound, address: this.listeners[index]!.url },
          `Cannot bind another socket at ${this.listeners[index]!.url} (--reuse-port): ${bound}; the new worker shares the first one`,
        );
        return undefined;
      }
      handles.set(index, bound);
    }
    const slot = { handles, holders: new Set<number>() };
    this.slots.push(slot);
    return slot;
  }
}
