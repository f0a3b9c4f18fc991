/**
 * --idle-timeout's clock: when the server was last active, from what the workers count. A request
 * served since the last look, a request in flight or a connection open (keep-alive, WebSocket) is
 * activity; the clock starts over with each. Decisions only: elastic/scale-to-zero.ts acts on them.
 */

/** What the clock reads of a worker: its counts as of its latest heartbeat or report, and when they came. */
export interface WorkerActivity {
  id: number;
  requests: number;
  inFlight: number;
  connections: number;
  countsAt: number;
}

export class IdleClock {
  private lastActiveAt: number;
  /** Each live worker's counts at the last look: its requests, and when they came. */
  private readonly seen = new Map<number, { requests: number; countsAt: number }>();

  constructor(now: number) {
    this.lastActiveAt = now;
  }

  /** When the server was last seen active. */
  get activeAt(): number {
    return this.lastActiveAt;
  }

  /** Something happened now (a wake-up, a reload): the clock starts over. */
  touch(now: number): void {
    this.lastActiveAt = Math.max(this.lastActiveAt, now);
  }

  /**
   * Look at the workers' counts that came since the last look: says whether they show activity (the
   * clock then starts over). Counts are judged once, as they come: an in-flight request in a
   * heartbeat is activity then, not until the next one (which may be 5 s away); the arbiter asks for
   * fresh counts before it stops anything. A worker first seen with requests served is active.
   */
  observe(workers: Iterable<WorkerActivity>, now: number): boolean {
    const live = new Set<number>();
    let active = false;
    for (const worker of workers) {
      live.add(worker.id);
      const seen = this.seen.get(worker.id) ?? { requests: 0, countsAt: -Infinity };
      if (worker.countsAt === seen.countsAt) continue;
      if (worker.requests !== seen.requests || worker.inFlight > 0 || worker.connections > 0) active = true;
      this.seen.set(worker.id, { requests: worker.requests, countsAt: worker.countsAt });
    }
    for (const id of this.seen.keys()) if (!live.has(id)) this.seen.delete(id);
    if (active) this.touch(now);
    return active;
  }

  /** When the server will have been idle for `timeoutMs`. */
  idleAt(timeoutMs: number): number {
    return this.lastActiveAt + timeoutMs;
  }
}
