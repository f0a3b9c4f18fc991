/**
 * When a vassal that exited unexpectedly is started again, and when it is put aside instead. A
 * vassal that keeps failing is not restarted in a tight loop: each failure in a row doubles the
 * wait, and one that has never served after a few starts is put aside until its file changes.
 */

/** The first restart waits this long; each failure in a row doubles it, up to the cap. */
export const RESTART_DELAY_MS = { first: 1000, cap: 30_000 } as const;
/** Serving this long, a vassal has proved itself: its next failure starts the doubling afresh. */
export const SERVED_FOR_MS = 30_000;
/** Starts in a row that end before the vassal ever reports serving, before it is put aside. */
export const FAILED_STARTS_BEFORE_PUT_ASIDE = 3;

/** The wait before restart number `failures` in a row (1 for the first). */
export const restartDelay = (failures: number): number =>
  Math.min(RESTART_DELAY_MS.cap, RESTART_DELAY_MS.first * 2 ** Math.max(0, failures - 1));
