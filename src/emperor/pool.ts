/**
 * The host-wide limit (`--max-workers`, `--max-memory`): when a vassal must start, which running
 * on-demand vassals to stop first to make room, or that it must wait. A pure function of what the
 * emperor knows, so that the policy is tested without processes.
 */

export interface PoolMember {
  name: string;
  /** Workers it may run (running vassals), or will (the one starting). */
  workers: number;
  /** Its memory as last reported, in bytes (0 when not known). */
  rss: number;
  /** Only an on-demand vassal may be stopped to make room: its next connection starts it again. */
  onDemand: boolean;
  /** When it last served a request (or started), ms since the epoch: the longest idle goes first. */
  lastActiveAt: number;
}

export interface PoolLimits {
  /** 0 for no limit. */
  maxWorkers: number;
  /** Bytes; 0 for no limit. */
  maxMemory: number;
}

export type PoolDecision = { start: true; stop: string[] } | { start: false; limit: string };

/** Room for `starting` beside `running`: start it (after stopping `stop`), or wait, naming the limit. */
export function makeRoom(starting: PoolMember, running: PoolMember[], limits: PoolLimits): PoolDecision {
  const over = (members: PoolMember[]): string | undefined => {
    const workers = members.reduce((sum, m) => sum + m.workers, starting.workers);
    if (limits.maxWorkers > 0 && workers > limits.maxWorkers) return `--max-workers ${limits.maxWorkers}`;
    const rss = members.reduce((sum, m) => sum + m.rss, starting.rss);
    if (limits.maxMemory > 0 && rss > limits.maxMemory) return `--max-memory ${limits.maxMemory} bytes`;
    return undefined;
  };
  const candidates = running.filter((m) => m.onDemand && m.name !== starting.name).sort((a, b) => a.lastActiveAt - b.lastActiveAt);
  let kept = running.filter((m) => m.name !== starting.name);
  const stop: string[] = [];
  for (let limit = over(kept); limit !== undefined; limit = over(kept)) {
    const next = candidates.shift();
    if (!next) return { start: false, limit };
    stop.push(next.name);
    kept = kept.filter((m) => m !== next);
  }
  return { start: true, stop };
}
