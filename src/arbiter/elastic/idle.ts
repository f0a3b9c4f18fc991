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
  /** Each live worker's counts at the last look, and when they came. */
  private readonly seen = new Map<number, WorkerActivity>();

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
      const seen = this.seen.get(worker.id);
      // countsAt is in whole milliseconds: counts that differ are new even when they came in the same one.
      if (seen && sameCounts(worker, seen)) continue;
      if (worker.requests !== (seen?.requests ?? 0) || worker.inFlight > 0 || worker.connections > 0) active = true;
      const { id, requests, inFlight, connections, countsAt } = worker;
      this.seen.set(id, { id, requests, inFlight, connections, countsAt });
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

const sameCounts = (a: WorkerActivity, b: WorkerActivity) =>
  a.countsAt === b.countsAt && a.requests === b.requests && a.inFlight === b.inFlight && a.connections === b.connections;
