/**
 * The host-wide limit (`maxWorkers`, `maxMemory` across the vassals): when a vassal must start and
 * the limit is reached, which on-demand vassals to stop first, as Passenger's pool does, or why it
 * waits. A pure function of what the emperor knows; the emperor acts on the answer:
 *
 *     const room = makeRoom(limit, vassals, { name, workers, rss: estimate }, Date.now());
 *     // start: start it now.
 *     // stop: stop room.names gracefully (log room.reason), and start it once they have exited.
 *     // wait: log room.reason once, and ask again when a vassal exits or the limit changes.
 *     // too-big: it can never fit; fail it with room.reason rather than wait forever.
 *
 * Only on-demand vassals are stopped (the emperor holds their sockets, so the next connection wakes
 * them and none is refused). First the `idle` ones (no worker runs), then `serving` ones, each group
 * by the time since its last request (or since it started, for none), longest first. A serving one
 * whose last request is more recent than `quietMs` is passed over: it may have requests in flight,
 * which a vassal's report does not count. Only vassals that free something still needed are taken,
 * and no more than it takes. Vassals already stopping are counted as freed: if that is enough, the
 * answer is to wait for them.
 */
import { formatSize } from '../config/size';
import { formatAge } from '../control/format';
import type { VassalSummary } from '../shared/vassal-summary';

/** Unset (or 0) for no limit of that kind. */
export interface HostLimit {
  maxWorkers?: number;
  /** Bytes of resident memory, over every vassal's arbiter and workers. */
  maxMemory?: number;
}

/** What the pool reads of each vassal: a VassalSummary has it all. */
export type PoolVassal = Pick<VassalSummary, 'name' | 'onDemand' | 'state' | 'workers' | 'rss' | 'lastRequestAt' | 'since'>;

/** The vassal that must start: its workers, and an estimate of its memory (its last run's, say). */
export interface Newcomer {
  name: string;
  workers: number;
  rss: number;
}

export type Room =
  | { kind: 'start' }
  /** Stop these, in this order, then start the newcomer. */
  | { kind: 'stop'; names: string[]; reason: string }
  | { kind: 'wait'; reason: string }
  | { kind: 'too-big'; reason: string };

/** A serving vassal with a request more recent than this may be serving one still. */
export const QUIET_MS = 1000;

interface Need {
  workers: number;
  rss: number;
}

export function makeRoom(limit: HostLimit, vassals: readonly PoolVassal[], newcomer: Newcomer, now: number, quietMs = QUIET_MS): Room {
  const maxWorkers = limit.maxWorkers || Infinity;
  const maxMemory = limit.maxMemory || Infinity;
  if (newcomer.workers > maxWorkers || newcomer.rss > maxMemory) {
    const workers = newcomer.workers > maxWorkers;
    const what = workers ? `${newcomer.workers} workers` : `about ${formatSize(newcomer.rss)} of memory`;
    const limitText = describeLimit(limit, workers);
    return {
      kind: 'too-big',
      reason: `${newcomer.name} needs ${what}, more than the host limit of ${limitText}: it cannot start however many vassals stop`,
    };
  }
  const others = vassals.filter((v) => v.name !== newcomer.name);
  const used = total(others);
  const excess: Need = { workers: used.workers + newcomer.workers - maxWorkers, rss: used.rss + newcomer.rss - maxMemory };
  if (excess.workers <= 0 && excess.rss <= 0) return { kind: 'start' };
  const reached = describeReached(limit, used, newcomer, excess);
  const stopping = others.filter((v) => v.state === 'stopping');
  const freeing = total(stopping);
  const need: Need = { workers: excess.workers - freeing.workers, rss: excess.rss - freeing.rss };
  const alsoStopping = stopping.length > 0 ? `; ${names(stopping)} ${stopping.length === 1 ? 'is' : 'are'} stopping` : '';
  if (need.workers <= 0 && need.rss <= 0) return { kind: 'wait', reason: `${newcomer.name} waits to start: ${reached}${alsoStopping}` };

  const chosen: PoolVassal[] = [];
  for (const candidate of candidates(others, now, quietMs)) {
    const frees = (need.workers > 0 && candidate.workers > 0) || (need.rss > 0 && candidate.rss > 0);
    if (!frees) continue;
    chosen.push(candidate);
    need.workers -= candidate.workers;
    need.rss -= candidate.rss;
    if (need.workers <= 0 && need.rss <= 0) {
      const which = chosen.map((v) => `${v.name} (${describeQuiet(v, now)})`).join(', ');
      return { kind: 'stop', names: chosen.map((v) => v.name), reason: `stopping ${which} to make room for ${newcomer.name}: ${reached}` };
    }
  }
  const busy = others.filter((v) => v.onDemand && v.state === 'serving' && v.lastRequestAt !== null && now - v.lastRequestAt < quietMs);
  const why =
    busy.length > 0 ? ` (${busy.map((v) => `${v.name} served a request ${formatAge(now - v.lastRequestAt!)} ago`).join(', ')})` : '';
  return {
    kind: 'wait',
    reason: `${newcomer.name} waits to start: ${reached}, and no on-demand vassal is idle to be stopped${why}${alsoStopping}`,
  };
}

/** The vassals that may be stopped, in the order to stop them. */
function candidates(vassals: readonly PoolVassal[], now: number, quietMs: number): PoolVassal[] {
  const quietFor = (v: PoolVassal) => now - (v.lastRequestAt ?? v.since);
  const stoppable = vassals.filter(
    (v) => v.onDemand && (v.state === 'idle' || (v.state === 'serving' && (v.lastRequestAt === null || now - v.lastRequestAt >= quietMs))),
  );
  const rank = (v: PoolVassal) => (v.state === 'idle' ? 0 : 1);
  return stoppable.sort((a, b) => rank(a) - rank(b) || quietFor(b) - quietFor(a));
}

const total = (vassals: readonly PoolVassal[]): Need => ({
  workers: vassals.reduce((sum, v) => sum + v.workers, 0),
  rss: vassals.reduce((sum, v) => sum + v.rss, 0),
});

const names = (vassals: readonly PoolVassal[]) => vassals.map((v) => v.name).join(', ');

/** `no request for 1h00m`, or `no request since it started 2m05s ago`. */
const describeQuiet = (v: PoolVassal, now: number) =>
  v.lastRequestAt === null
    ? `no request since it started ${formatAge(now - v.since)} ago`
    : `no request for ${formatAge(now - v.lastRequestAt)}`;

const describeLimit = (limit: HostLimit, workers: boolean) =>
  workers ? `${limit.maxWorkers} workers` : `${formatSize(limit.maxMemory ?? 0)} of memory`;

/** `the host limit of 8 workers is reached (8 running, 2 more needed)`, for each limit passed. */
function describeReached(limit: HostLimit, used: Need, newcomer: Newcomer, excess: Need): string {
  const parts: string[] = [];
  if (excess.workers > 0)
    parts.push(`the host limit of ${describeLimit(limit, true)} is reached (${used.workers} running, ${newcomer.workers} more needed)`);
  if (excess.rss > 0)
    parts.push(
      `the host limit of ${describeLimit(limit, false)} is reached ` +
        `(${formatSize(used.rss)} in use, about ${formatSize(newcomer.rss)} more needed)`,
    );
  return parts.join(' and ');
}
