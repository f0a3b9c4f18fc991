/**
 * How many file descriptors a process may have open (RLIMIT_NOFILE, `ulimit -n`), and what that
 * leaves a worker for connections. Every connection is a descriptor: an async worker at the default
 * --worker-connections 1000 under the common limit of 1024 runs out before it reaches its setting.
 * The arbiter warns of that once at start; each worker caps its connections to what the limit leaves
 * and stops accepting for a while when it runs short all the same (worker/accept-backoff.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Descriptors a worker keeps beyond its connections: its own (some 30: the standard streams, the
 * arbiter's channel, the event loop's, two copies of each listener, log files) and the app's (files,
 * connections to upstream services).
 */
export const OWN_DESCRIPTORS = 64;

/** Free descriptors under which a worker stops accepting for a while: what it needs to go on
 *  (a copy of a listener from the arbiter, the app's next file). */
export const SPARE_DESCRIPTORS = 16;

/**
 * This process's soft open-file limit, as /proc/self/limits gives it (Node has no call for it):
 * undefined where that cannot be read (not Linux) or there is no limit. Read at start only: it takes
 * a descriptor itself.
 */
export function openFileLimit(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(limits)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** The descriptors this process has open, less the one that reads them (throws where /proc/self/fd
 *  cannot be read, EMFILE when none is free to read it). */
export function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length - 1;
}

/** The connections a worker takes at most: --worker-connections, or what `limit` leaves after
 *  OWN_DESCRIPTORS if that is fewer (at least one). */
export function connectionCap(workerConnections: number, limit: number | undefined): number {
  if (limit === undefined) return workerConnections;
  return Math.max(1, Math.min(workerConnections, limit - OWN_DESCRIPTORS));
}

/** What the arbiter says at start when `limit` caps an async worker's --worker-connections;
 *  undefined when it does not. */
export function connectionCapWarning(
  settings: { workerClass: string; workerConnections: number },
  limit: number | undefined,
): string | undefined {
  const { workerConnections } = settings;
  const cap = connectionCap(workerConnections, limit);
  if (settings.workerClass !== 'async' || cap === workerConnections) return undefined;
  return (
    `--worker-connections ${workerConnections} is more than the open-file limit (ulimit -n) of ${limit} allows: ` +
    `each worker takes at most ${cap} connections, keeping ${OWN_DESCRIPTORS} descriptors for its own use; ` +
    'raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) or lower --worker-connections'
  );
}

/**
 * The descriptors free to a process that accepts connections it does not serve at once (the idle
 * arbiter, the emperor holding an on-demand vassal's): counted when it starts accepting, then less
 * one for each connection taken, and counted afresh only when that looks short (reading /proc/self/fd
 * for each would cost more than the accept).
 */
export class FreeDescriptors {
  readonly limit = openFileLimit();
  private free: number | undefined;

  /** Count them now. */
  recount(): void {
    this.free = this.count();
  }

  /** One more is taken: false when fewer than SPARE_DESCRIPTORS are left, counted afresh. */
  took(): boolean {
    if (this.free === undefined || --this.free >= SPARE_DESCRIPTORS) return true;
    this.recount();
    return this.free === undefined || this.free >= SPARE_DESCRIPTORS;
  }

  /** As last counted (undefined: no limit, or not known). */
  get left(): number | undefined {
    return this.free;
  }

  private count(): number | undefined {
    if (this.limit === undefined) return undefined;
    try {
      return this.limit - openDescriptors();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EMFILE' || code === 'ENFILE' ? 0 : undefined;
    }
  }
}
