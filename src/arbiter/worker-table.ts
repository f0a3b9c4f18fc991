/**
 * The arbiter's table of its workers: every record by id, and the named sets its decisions are
 * about. A question about "which workers" is asked here, so that each set means one thing.
 */
import type { WorkerRecord } from './worker-process';

/** Oldest first: by when they were forked, then by id (forked in the same millisecond). */
export const byAge = (a: WorkerRecord, b: WorkerRecord): number => a.spawnedAt - b.spawnedAt || a.id - b.id;

/** Accepting and answering: ready, or retiring (serving until a replacement is ready). */
export const isServing = (record: WorkerRecord): boolean => record.state === 'ready' || record.state === 'retiring';

export class WorkerTable {
  private readonly records = new Map<number, WorkerRecord>();

  get size(): number {
    return this.records.size;
  }

  get(id: number): WorkerRecord | undefined {
    return this.records.get(id);
  }

  has(id: number): boolean {
    return this.records.has(id);
  }

  add(record: WorkerRecord): void {
    this.records.set(record.id, record);
  }

  /** The worker has exited: it is no longer the arbiter's. */
  delete(id: number): boolean {
    return this.records.delete(id);
  }

  values(): IterableIterator<WorkerRecord> {
    return this.records.values();
  }

  /** Every worker, in no particular order. */
  all(): WorkerRecord[] {
    return [...this.records.values()];
  }

  /** Every worker, oldest first. */
  oldestFirst(): WorkerRecord[] {
    return [...this.records.values()].sort(byAge);
  }

  /** Workers serving (ready or retiring). */
  serving(): WorkerRecord[] {
    return this.where(isServing);
  }

  /** The worker with process id `pid`, if it is one of these. */
  withPid(pid: number): WorkerRecord | undefined {
    for (const record of this.records.values()) if (record.pid === pid) return record;
    return undefined;
  }

  /** Workers that can answer a request for their counts: in reach over IPC and not being killed
   *  for a fault (a worker timed out would never answer). */
  answering(): WorkerRecord[] {
    return this.where((r) => !r.fault && r.handle.isConnected());
  }

  /** Workers of `generation` that make up the target count: booting or ready (not retiring, not stopping). */
  counting(generation: number): WorkerRecord[] {
    return this.where((r) => counts(r, generation));
  }

  /** Whether worker `id` is one of `counting(generation)`. */
  countsToward(id: number, generation: number): boolean {
    const record = this.records.get(id);
    return record !== undefined && counts(record, generation);
  }

  /** How many workers serve when every one not told to stop is ready and of `generation`; undefined otherwise. */
  readyOnlyOf(generation: number): number | undefined {
    let ready = 0;
    for (const record of this.records.values()) {
      if (record.state === 'stopping') continue;
      if (record.state !== 'ready' || record.generation !== generation) return undefined;
      ready++;
    }
    return ready;
  }

  /** Workers of `generation` that are ready. */
  readyOf(generation: number): WorkerRecord[] {
    return this.where((r) => r.generation === generation && r.state === 'ready');
  }

  /** Workers of `generation` not yet told to stop. */
  unstoppedOf(generation: number): WorkerRecord[] {
    return this.where((r) => r.generation === generation && r.state !== 'stopping');
  }

  /** Workers of other generations than `generation` not yet told to stop. */
  unstoppedBefore(generation: number): WorkerRecord[] {
    return this.where((r) => r.generation !== generation && r.state !== 'stopping');
  }

  /** Workers to be replaced (retiring), oldest first: the order they are stopped in. */
  retiring(): WorkerRecord[] {
    return this.where((r) => r.state === 'retiring').sort(byAge);
  }

  /** Worker `id`, when it is there and not told to stop (it still accepts). */
  accepting(id: number): boolean {
    const record = this.records.get(id);
    return record !== undefined && record.state !== 'stopping';
  }

  private where(keep: (record: WorkerRecord) => boolean): WorkerRecord[] {
    return [...this.records.values()].filter(keep);
  }
}

function counts(record: WorkerRecord, generation: number): boolean {
  return record.generation === generation && (record.state === 'booting' || record.state === 'ready');
}
