/**
 * --idle-timeout's clock: when the server was last active, from what the workers count. A request
 * served since the last look, a request in flight or a connection open (keep-alive, WebSocket) is
 * activity; the clock starts over with each. Decisions only: elastic/scale-to-zero.ts acts on them.
 */

/** What the clock reads of a worker: its counts as of its latest heartbeat or report. */
export interface WorkerActivity {
  id: number;
  requests: number;
  inFlight: number;
  connections: number;
}

export class IdleClock {
  private lastActiveAt: number;
  /** Each live worker's request count at the last look. */
  private readonly requestsSeen = new Map<number, number>();

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

  /** Look at the workers' counts: says whether they show activity since the last look (the clock
   *  then starts over). A worker seen for the first time with requests served counts as active. */
  observe(workers: Iterable<WorkerActivity>, now: number): boolean {
    const live = new Set<number>();
    let active = false;
    for (const worker of workers) {
      live.add(worker.id);
      if (worker.requests !== (this.requestsSeen.get(worker.id) ?? 0) || worker.inFlight > 0 || worker.connections > 0) active = true;
      this.requestsSeen.set(worker.id, worker.requests);
    }
    for (const id of this.requestsSeen.keys()) if (!live.has(id)) this.requestsSeen.delete(id);
    if (active) this.touch(now);
    return active;
  }

  /** When the server will have been idle for `timeoutMs`. */
  idleAt(timeoutMs: number): number {
    return this.lastActiveAt + timeoutMs;
  }
}
