/**
 * A worker's heartbeat: a message to the arbiter from a timer, so that it stops when the event loop
 * is stuck — the arbiter kills a worker silent for longer than --timeout. A worker class may hold
 * it while a request is in flight (sync does), which makes --timeout its per-request limit; so that the limit
 * counts from the request's start and not from an earlier beat, and a long request that finishes
 * in time is not taken for a stuck one, it also beats when a request starts and ends, at most ten
 * times an interval.
 */
export class Heartbeat {
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly beat: () => void,
    private readonly busy: () => boolean,
    /** Called on every tick, beat or not. */
    private readonly tick: () => void = () => {},
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.tick();
      if (!this.busy()) this.send();
    }, this.intervalMs);
    // Beating must not keep a draining worker alive.
    this.timer.unref();
  }

  /** A request the heartbeat is held for starts or ends. */
  touch(): void {
    if (this.timer && performance.now() - this.last >= this.intervalMs / 10) this.send();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(): void {
    this.last = performance.now();
    this.beat();
  }
}
