import { formatDuration } from '../config/duration';
import { openDescriptors, SPARE_DESCRIPTORS } from '../shared/descriptors';
import type { Logger } from '../shared/log';

/** The first pause, and the longest while descriptors stay short. */
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 1000;
/** An episode is over once accepting has gone this long without a pause. */
const EPISODE_QUIET_MS = 2000;
/** How often the open descriptors are counted: what the app opens shows at the next count. */
const COUNT_EVERY_MS = 1000;

/** What the back-off does to the gate. */
export interface Accepting {
  /** Close the listener copies: connections wait in the backlog. */
  stop(): void;
  /** The pause is over: accept again if the server wants connections. */
  restart(): void;
}

/**
 * A worker's accepting backs off while it is short of file descriptors, as Gunicorn's and nginx's
 * do. It must stop before an accept fails: libuv answers an accept that fails with EMFILE or ENFILE
 * by accepting every connection waiting in the listener's backlog and closing it at once (its "EMFILE
 * trick", which keeps the poll from spinning), so those clients see their connection closed or
 * reset with no response, clients another worker, or this one a moment later, could have served.
 *
 * So the worker counts its open descriptors (/proc/self/fd) every second, takes one off the count
 * for each connection it accepts, and counts again once fewer than SPARE_DESCRIPTORS seem free. When
 * that many are not (or an accept fails all the same), it stops accepting for 100 ms, twice as long
 * each time again up to a second, and counts again before it accepts; the connections wait in the
 * backlog for another worker or for later. Where the count cannot be read (/proc/self/fd hidden),
 * a connection given one of the last SPARE_DESCRIPTORS numbers stops it instead: the kernel gives
 * the lowest free number, so one that high means at most that few are free. Each episode is logged
 * as it begins, and with its count of pauses when it is over.
 */
export class AcceptBackoff {
  /** Descriptors free at the last count, less the connections accepted since; undefined where
   *  they cannot be counted. */
  private free: number | undefined;
  private readonly counter: NodeJS.Timeout | undefined;
  /** The latest pause; 0 outside an episode. */
  private pauseMs = 0;
  private pauses = 0;
  private startedAt = 0;
  private resumedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;

  constructor(
    /** The open-file limit; undefined: unknown, and only a failed accept pauses. */
    private readonly limit: number | undefined,
    private readonly accepting: Accepting,
    private readonly log: Logger,
    private readonly countOpen: () => number = openDescriptors,
  ) {
    if (limit === undefined) return;
    this.count();
    if (this.free !== undefined) this.counter = setInterval(() => this.check(), COUNT_EVERY_MS).unref();
  }

  /** Paused: not accepting, whatever the server wants. */
  get pausing(): boolean {
    return this.timer !== undefined;
  }

  /** A connection was accepted on descriptor `fd`: pause if that left too few free. */
  tookOne(fd: number | undefined): void {
    if (this.limit === undefined || this.timer) return;
    if (this.free === undefined) {
      if (fd !== undefined && fd >= this.limit - SPARE_DESCRIPTORS) this.pause(`a connection took descriptor ${fd} of ${this.limit}`);
    } else if (--this.free < SPARE_DESCRIPTORS) {
      this.check();
    }
  }

  /** An accept failed for want of a descriptor (a libuv older than 1.45 reports it when it cannot
   *  close the backlog instead; newer ones report nothing, and the count every second catches it). */
  acceptFailed(code: string): void {
    this.pause(`accept failed with ${code}`);
  }

  /** Stop for good (the worker drains). */
  stop(): void {
    clearInterval(this.counter);
    clearTimeout(this.timer);
    clearTimeout(this.quietTimer);
    this.timer = undefined;
  }

  /** Count the free descriptors, and pause if too few are. */
  private check(): void {
    if (this.timer) return;
    this.count();
    if (this.free !== undefined && this.free < SPARE_DESCRIPTORS) this.pause(`${this.free} of ${this.limit} free`);
  }

  private count(): void {
    try {
      this.free = this.limit! - this.countOpen();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.free = code === 'EMFILE' || code === 'ENFILE' ? 0 : undefined;
    }
  }

  private pause(why: string): void {
    clearTimeout(this.quietTimer);
    if (this.pauses === 0) {
      this.startedAt = performance.now();
      this.log.warn(
        { limit: this.limit },
        `Out of file descriptors (${why}); not accepting for a while: new connections wait in the backlog`,
      );
    }
    this.pauses++;
    this.pauseMs = Math.min(LONGEST_PAUSE_MS, this.pauseMs === 0 ? FIRST_PAUSE_MS : this.pauseMs * 2);
    this.accepting.stop();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check();
      if (this.timer) return;
      this.resumedAt = performance.now();
      this.quietTimer = setTimeout(() => this.endEpisode(), EPISODE_QUIET_MS).unref();
      this.accepting.restart();
    }, this.pauseMs).unref();
  }

  private endEpisode(): void {
    const took = formatDuration(Math.round(this.resumedAt - this.startedAt));
    this.log.info(
      { pauses: this.pauses, limit: this.limit },
      `Accepting normally again after running out of file descriptors: paused ${this.pauses} times over ${took}`,
    );
    this.pauses = 0;
    this.pauseMs = 0;
  }
}
