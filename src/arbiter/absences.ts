/**
 * The times the arbiter itself was away: its loop woke late because the process was stopped
 * (SIGSTOP, a container freeze, a VM pause) or its event loop was blocked. A worker's silence is
 * counted only in the time the arbiter was there to hear it: while the arbiter is away it reads no
 * heartbeats, on its return it runs its timers before it reads the ones queued in its IPC channels,
 * and in a whole-container freeze the workers were stopped too. Without this, every healthy worker
 * looks silent at once after a pause longer than --timeout.
 */

/** A wake-up later than this is the arbiter's absence, not the jitter of its timers on a busy
 *  machine (which must not keep a stuck worker alive). */
const LATE_MS = 250;

interface Absence {
  from: number;
  to: number;
}

export class Absences {
  private absences: Absence[] = [];
  /** When the loop, awake, last looked at the clock (seen, woke). */
  private lastSeen: number | undefined;

  /**
   * The loop went to sleep at `sleptAt`, meaning to wake by `dueAt`, and woke at `wokeAt` (by the
   * monotonic clock). Returns how late it was when it counts as an absence, else 0. When in its
   * sleep it stopped is not known: the absence is the lateness and as much again before it was due
   * (the whole sleep, for a pause of any length), so a pause that began just after it fell asleep is
   * not counted as the workers' silence.
   */
  woke(sleptAt: number, dueAt: number, wokeAt: number): number {
    this.lastSeen = wokeAt;
    const late = wokeAt - dueAt;
    if (late < LATE_MS) return 0;
    this.absences.push({ from: Math.max(sleptAt, dueAt - late), to: wokeAt });
    return late;
  }

  /**
   * The loop, awake, looks at the clock at `now` (before it sleeps, and before it judges anyone).
   * A gap since it last looked longer than LATE_MS is an absence its sleep cannot show: it was
   * stopped or blocked in the middle of a turn, or in turns with no sleep between them. True when
   * this look found one: the heartbeats queued meanwhile are still to be read.
   */
  seen(now: number): boolean {
    const last = this.lastSeen;
    this.lastSeen = now;
    if (last === undefined || now - last < LATE_MS) return false;
    this.absences.push({ from: last, to: now });
    return true;
  }

  /** How much of the time from `since` to `now` the arbiter was there. */
  present(since: number, now: number): number {
    let away = 0;
    for (const { from, to } of this.absences) away += Math.max(0, Math.min(to, now) - Math.max(from, since));
    return now - since - away;
  }

  /** Absences that ended before `since` no longer matter: nothing is measured from before it. */
  forget(since: number): void {
    if (this.absences.length > 0) this.absences = this.absences.filter(({ to }) => to > since);
  }
}
