/**
 * The arbiter's hooks, one at a time, in the order the loop asked for them, beside the loop: the
 * loop goes on (signals, heartbeats, exits) while a hook takes its time. With no hook still running,
 * one runs at once, and a hook that returns no promise is done before the loop takes its next step,
 * as in Gunicorn.
 */
import type { HookArgs, HookRunner } from '../hooks/run';
import type { HookName } from '../hooks/types';

/** What became of a hook: its failure, or a promise of it while it runs. */
export type HookOutcome = Error | undefined | Promise<Error | undefined>;

export interface HookQueueOptions {
  /** A hook whose turn comes once this is true is skipped by `after`: what it would decide is moot (a stop). */
  moot: () => boolean;
  /** Run `then` in the loop, as an event (a hook that ended later than it was asked for). */
  inLoop: (then: () => void) => void;
}

export class HookQueue {
  /** The last queued hook's end, and how many queued hooks have not ended. */
  private chain: Promise<void> = Promise.resolve();
  private running = 0;

  constructor(
    private readonly hooks: HookRunner,
    private readonly options: HookQueueOptions,
  ) {}

  /**
   * Run `hook` after the ones asked for before it. Gives the failure of a hook whose failure stops
   * something (a logged hook's failure has been logged), or a promise of it while the hook runs.
   */
  queue<N extends HookName>(hook: N, args: HookArgs<N>, moot = () => false): HookOutcome {
    if (!this.hooks.has(hook)) return undefined;
    const run = () => (moot() ? undefined : this.hooks.run(hook, ...args));
    if (this.running > 0) return this.track(this.chain.then(run));
    try {
      const pending = run();
      return pending && this.track(pending);
    } catch (err) {
      return err as Error;
    }
  }

  /** `then` once `hook` has run (at once when no plugin has it, or it finished at once), with its
   *  failure; later, in the loop. A hook whose turn comes once the outcome is moot is skipped. */
  after<N extends HookName>(hook: N, args: HookArgs<N>, then: (err?: Error) => void): void {
    const outcome = this.queue(hook, args, this.options.moot);
    if (outcome instanceof Promise) void outcome.then((err) => this.options.inLoop(() => then(err)));
    else then(outcome);
  }

  /** Resolves once every hook queued so far has ended. */
  drained(): Promise<void> {
    return this.chain;
  }

  private track(pending: Promise<void>): Promise<Error | undefined> {
    const done = pending.then(
      () => undefined,
      (err: Error) => err,
    );
    this.running++;
    this.chain = done.then(() => {
      this.running--;
    });
    return done;
  }
}
