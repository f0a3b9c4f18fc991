/**
 * The crash backoff. A worker start that fails (the worker died while booting or within a second of
 * being ready, did not boot within --worker-boot-timeout, or preFork refused it) holds back the
 * fork of its own replacement only, by a delay that doubles with each failed start in a row: a
 * crash loop does not fork as fast as it can, and the other workers' replacements are not held up
 * by it. A worker that had been serving is replaced at once, however many went before it (an OOM
 * killer, an operator's kill -9, a bug that a rare request hits): what it proved is that the app
 * boots and runs, and waiting would only leave its clients with fewer workers, or none.
 */

/** The first delay is 100–300 ms; each failed start in a row doubles it, up to the cap; ±50% at
 *  random so that simultaneous failures do not respawn in lockstep. */
const DELAY_MS = { base: 200, cap: 10_000 } as const;
/** A failed start this long after the previous one begins a new streak. */
const STREAK_RESET_MS = 30_000;
/** Ready this long, a worker has served: its end is not a failed start. */
export const SERVED_AFTER_MS = 1000;

export class RespawnBackoff {
  private streak = 0;
  private lastFailureAt = -Infinity;
  /** When each held-back fork may go: one for each failed start whose delay has not passed. */
  private holds: number[] = [];

  /**
   * A worker start failed at `now`; `servedAt` is the latest moment a worker had served for
   * SERVED_AFTER_MS (a start that worked since the last failure ends the streak). Holds back one
   * fork; returns the failed starts in a row and the delay.
   */
  failed(now: number, servedAt: number): { streak: number; delayMs: number } {
    const fresh = now - this.lastFailureAt > STREAK_RESET_MS || servedAt > this.lastFailureAt;
    this.streak = fresh ? 1 : this.streak + 1;
    this.lastFailureAt = now;
    const delayMs = Math.round(Math.min(DELAY_MS.cap, DELAY_MS.base * 2 ** (this.streak - 1)) * (0.5 + Math.random()));
    this.holds.push(now + delayMs);
    return { streak: this.streak, delayMs };
  }

  /** A fork could not even be started (no pids or file descriptors left): retry it shortly. */
  forkFailed(now: number): void {
    this.holds.push(now + DELAY_MS.base);
  }

  /** How many forks are held back at `now`. */
  held(now: number): number {
    this.holds = this.holds.filter((at) => at > now);
    return this.holds.length;
  }

  /** When the next held-back fork may go after `now`, or Infinity. */
  nextRelease(now: number): number {
    let next = Infinity;
    for (const at of this.holds) if (at > now) next = Math.min(next, at);
    return next;
  }
}
