/**
 * Where a reload (HUP, `ctl reload`, --reload) is, and which generation of the configuration the
 * workers are started with. A reload reads the configuration again and runs onReload (rereading),
 * then starts a full set of new workers while the old ones serve (starting); once all are ready the
 * old ones are stopped, and if one fails first the new ones are and the saved configuration comes
 * back. A reload asked for while one is under way follows it. Decisions only: the arbiter does
 * what they say (reading, forking, stopping, logging).
 */

type State<Saved> =
  | { kind: 'idle' }
  /** The configuration is being read again and onReload run; no new worker yet. TTIN, TTOU or
   *  WINCH meanwhile (`targetSet`): the reload keeps their count, not the file's. */
  | { kind: 'rereading'; targetSet: boolean }
  /** The new generation's workers are starting; `saved` is what a failure goes back to. */
  | { kind: 'starting'; saved: Saved; previousGeneration: number; targetSet: boolean };

export class Reload<Saved> {
  private state: State<Saved> = { kind: 'idle' };
  /** A reload was asked for while this one is under way: it begins once this one ends. */
  private queued = false;
  private begunCount = 0;
  private current = 1;
  private latest = 1;
  /** whenReady is due once every worker of the current generation is ready (at start, after each reload
   *  and after each wake-up from an idle stop). */
  private readyPending = true;

  /** The generation of the configuration in force: workers forked now are of it. */
  get generation(): number {
    return this.current;
  }

  /** Reloads begun so far: `ctl reload` waits for the outcome of the next one. */
  get begun(): number {
    return this.begunCount;
  }

  /** Rereading or starting: the server's state is "reloading". */
  get underWay(): boolean {
    return this.state.kind !== 'idle';
  }

  /** New workers are starting: their readiness completes the reload, their failure fails it. */
  get starting(): boolean {
    return this.state.kind === 'starting';
  }

  /** Whether workers of `generation` are the new ones of the reload under way. */
  isStarting(generation: number): boolean {
    return this.state.kind === 'starting' && generation === this.current;
  }

  /** Whether `generation` is one a failed reload gave up (its workers are never replaced). */
  rolledBack(generation: number): boolean {
    return generation > this.current;
  }

  /** Asked for a reload: true when the configuration is to be read now, false when it follows the one under way. */
  begin(): boolean {
    if (this.underWay) {
      this.queued = true;
      return false;
    }
    this.state = { kind: 'rereading', targetSet: false };
    this.begunCount++;
    return true;
  }

  /** The worker count was set (TTIN, TTOU, WINCH, ctl scale): a reload under way keeps it, whatever its outcome. */
  targetSet(): void {
    if (this.state.kind !== 'idle') this.state.targetSet = true;
  }

  /** The configuration read again was refused: nothing changes, and no whenReady follows (no onReload ran). */
  refused(): void {
    this.state = { kind: 'idle' };
  }

  /** onReload failed: the running configuration is kept. */
  cancelled(): void {
    this.state = { kind: 'idle' };
    this.readyPending = true;
  }

  /** onReload ran: new workers start with a new generation. `saved` is what a failure goes back to.
   *  Says whether the worker count was set meanwhile (then the new configuration's is not taken). */
  start(saved: Saved): { targetSet: boolean } {
    const targetSet = this.state.kind === 'rereading' && this.state.targetSet;
    this.state = { kind: 'starting', saved, previousGeneration: this.current, targetSet };
    this.current = ++this.latest;
    return { targetSet };
  }

  /** Every new worker is ready: the old ones are to be stopped. */
  completed(): void {
    this.state = { kind: 'idle' };
    this.readyPending = true;
  }

  /** A new worker failed: the generation goes back, and the saved configuration with it (the
   *  worker count too, unless it was set during the reload). */
  failed(): { saved: Saved; targetSet: boolean } {
    if (this.state.kind !== 'starting') throw new Error(`no reload is starting workers (${this.state.kind})`);
    const { saved, previousGeneration, targetSet } = this.state;
    this.state = { kind: 'idle' };
    this.current = previousGeneration;
    this.readyPending = true;
    return { saved, targetSet };
  }

  /** The server is stopping: no reload goes on or follows. A reread still under way is dropped when it ends. */
  abandon(): void {
    this.state = { kind: 'idle' };
    this.queued = false;
  }

  /** Once a reload has ended: true (once) when another was asked for meanwhile and begins now. */
  takeQueued(): boolean {
    const queued = this.queued;
    this.queued = false;
    return queued;
  }

  /** The workers start again after an idle stop (--idle-timeout): they are ready again as after a start,
   *  which systemd and load balancers are told (whenReady). */
  readyAgain(): void {
    this.readyPending = true;
  }

  /** True once per start, reload or wake-up, when `ready` workers of the current generation make `target`
   *  (whenReady is due). Not while a reload is under way, nor for no workers at all (WINCH). */
  whenReadyDue(ready: number, target: number): boolean {
    if (!this.readyPending || this.underWay || target === 0 || ready < target) return false;
    this.readyPending = false;
    return true;
  }
}
