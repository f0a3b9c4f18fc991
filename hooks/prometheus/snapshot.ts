/**
 * What each worker counts and publishes (`worker.publish('prometheus', snapshot)`), and how the
 * arbiter adds the snapshots up. A snapshot is cumulative over the worker's life, so the arbiter
 * needs only the latest one of each worker; the one a worker last published before it exited is
 * added to a running total that outlives it.
 */

/** The status classes, in the order of `Snapshot.statuses`; `other` is a status of 600 to 999,
 *  which Node allows. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

export interface Snapshot {
  /** Requests by status class (see STATUS_CLASSES): the status sent, or set if the connection was
   *  lost before anything was sent. */
  statuses: number[];
  /** Requests whose connection closed before the response was complete. */
  aborted: number;
  /** The histogram's upper bounds in seconds, without +Inf: sent along, so that workers started
   *  with other buckets (a HUP that changed them) can still be added up. */
  le: number[];
  /** Requests by duration bucket, not cumulative: `le.length + 1` counts, the last for +Inf. */
  buckets: number[];
  /** Their durations, in seconds. */
  sum: number;
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

/** The worker's side: one snapshot, updated in place for each request and published as it is. */
export class Recorder {
  readonly snapshot: Snapshot;

  constructor(private readonly bounds: readonly number[]) {
    this.snapshot = { statuses: zeros(STATUS_CLASSES.length), aborted: 0, le: [...bounds], buckets: zeros(bounds.length + 1), sum: 0 };
  }

  /** One finished request: its status, whether its connection was lost, its duration in ms. */
  record(status: number, aborted: boolean, durationMs: number): void {
    const s = this.snapshot;
    const hundreds = Math.trunc(status / 100);
    s.statuses[hundreds >= 1 && hundreds <= 5 ? hundreds - 1 : 5]!++;
    if (aborted) s.aborted++;
    const seconds = durationMs / 1000;
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
  }
}

/** The arbiter's side: snapshots added up, into its own buckets. */
export class Totals {
  readonly statuses = zeros(STATUS_CLASSES.length);
  aborted = 0;
  readonly buckets: number[];
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.buckets = zeros(bounds.length + 1);
  }

  copy(): Totals {
    const copy = new Totals(this.bounds);
    copy.add(this);
    return copy;
  }

  get count(): number {
    return this.buckets.reduce((a, b) => a + b, 0);
  }

  /**
   * Add a snapshot, or other totals. A snapshot with other bounds is added conservatively: each of
   * its buckets goes into the first of ours whose bound is at least as high, so that every
   * `le` count stays true (an observation at most 0.3 s is at most 0.5 s), if coarser.
   */
  add(other: Snapshot | Totals): void {
    for (let i = 0; i < this.statuses.length; i++) this.statuses[i]! += other.statuses[i]!;
    this.aborted += other.aborted;
    this.sum += other.sum;
    const theirs = other instanceof Totals ? other.bounds : other.le;
    const same = theirs.length === this.bounds.length && theirs.every((b, i) => b === this.bounds[i]);
    let j = 0;
    for (let i = 0; i < other.buckets.length; i++) {
      if (same) j = i;
      else while (j < this.bounds.length && this.bounds[j]! < (theirs[i] ?? Infinity)) j++;
      this.buckets[j]! += other.buckets[i]!;
    }
  }
}

/** A published value, if it is a snapshot: it comes from another process, possibly another
 *  version of this plugin (a HUP after an upgrade starts workers with the new code). */
export function readSnapshot(value: unknown): Snapshot | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const s = value as Partial<Snapshot>;
  const counts = (a: unknown, length: number) => Array.isArray(a) && a.length === length && a.every((n) => Number.isFinite(n) && n >= 0);
  const increasing = Array.isArray(s.le) && s.le.every((b, i) => Number.isFinite(b) && (i === 0 || b > s.le![i - 1]!));
  const ok =
    increasing &&
    counts(s.statuses, STATUS_CLASSES.length) &&
    counts(s.buckets, s.le!.length + 1) &&
    Number.isFinite(s.aborted) &&
    s.aborted! >= 0 &&
    Number.isFinite(s.sum);
  return ok ? (s as Snapshot) : undefined;
}
