/**
 * The arbiter's watch over its workers: silence past --timeout, boots past --worker-boot-timeout,
 * recycling by --max-worker-lifetime and --max-worker-memory (--max-requests is the worker's own
 * count), and stops that overrun their grace. Each check reads the one deadline it acts on; all of a
 * worker's deadlines are gathered in one place (workerDeadlines), for the loop to sleep until the earliest.
 */
import { formatDuration } from '../config/duration';
import { appMounts } from '../config/mount-spec';
import type { Settings } from '../config/settings';
import { formatSize } from '../config/size';
import type { ExitReason } from '../hooks/types';
import type { UnicornError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { Absences } from './absences';
import type { BootAttempts } from './boot-attempts';
import { type Diagnosis, describeTimeout, describeWait, formatStack } from './diagnose';
import { CHECK_MS, HARD_MEMORY_MARGIN, judge, type ReadResident } from './memory-watch';
import type { WorkerRecord } from './worker-process';
import type { WorkerTable } from './worker-table';

/** How long workers told to stop quickly (SIGQUIT), or while still booting, have to exit before they are killed. */
export const QUICK_STOP_GRACE_MS = 1000;
/** How long reading a timed-out worker's stack may take. */
export const DIAGNOSE_LIMIT_MS = 1500;
/** After SIGABRT, how long a timed-out worker has to run its abort path before SIGKILL. Together
 *  with the diagnosis, a timed-out worker is gone within --timeout + 2 s. */
export const ABORT_GRACE_MS = 400;

export type TimeoutFault = 'timeout' | 'boot-timeout';

/** What is due for a worker, and when. */
export type Deadline =
  /** It was told to stop (or is being aborted) and has not exited by `at`: SIGKILL. */
  | { at: number; due: 'kill' }
  /** It has been silent (or booting) since `since` for longer than its limit by `at`. */
  | { at: number; due: TimeoutFault; since: number }
  /** It has run --max-worker-lifetime (with its jitter) by `at`: replace it. */
  | { at: number; due: 'max-lifetime' };

/** The settings supervision reads (those in force: a reload may change them). */
export type SupervisedSettings = Pick<
  Settings,
  | 'timeout'
  | 'workerBootTimeout'
  | 'gracefulTimeout'
  | 'maxWorkerMemory'
  | 'maxWorkerLifetime'
  | 'maxRequests'
  | 'bootAttempts'
  | 'app'
  | 'mounts'
>;

/**
 * A worker's deadlines: the kill of a stop that overran; while the server is not stopping, its silence
 * (silenceDeadline) and its lifetime while it serves. The loop sleeps until the earliest of them.
 */
export function workerDeadlines(
  record: WorkerRecord,
  now: number,
  settings: SupervisedSettings,
  absences: Absences,
  stopping: boolean,
): Deadline[] {
  const deadlines: Deadline[] = [];
  if (record.killAt !== Infinity) deadlines.push({ at: record.killAt, due: 'kill' });
  if (!stopping) {
    const silence = silenceDeadline(record, now, settings, absences);
    if (silence) deadlines.push(silence);
    if (record.state === 'ready' && record.retireAt !== Infinity) deadlines.push({ at: record.retireAt, due: 'max-lifetime' });
  }
  return deadlines;
}

/**
 * When the worker's silence (its heartbeats, or its boot) passes its limit, if it is watched: counted
 * only while the arbiter was there to hear it (absences.ts).
 */
function silenceDeadline(
  record: WorkerRecord,
  now: number,
  settings: SupervisedSettings,
  absences: Absences,
): Extract<Deadline, { due: TimeoutFault }> | undefined {
  const { timeout, workerBootTimeout } = settings;
  const watch =
    record.state === 'booting' && workerBootTimeout > 0
      ? { due: 'boot-timeout' as const, since: record.spawnedAt, limit: workerBootTimeout }
      : (record.state === 'ready' || record.state === 'retiring') && timeout > 0
        ? { due: 'timeout' as const, since: record.lastBeat, limit: timeout }
        : undefined;
  // The first whole millisecond of silence past the limit (the clock counts whole milliseconds).
  return watch && { at: now + watch.limit - absences.present(watch.since, now) + 1, due: watch.due, since: watch.since };
}

/** The worker processes, as supervision acts on them. */
export interface WorkerProcesses {
  /** Send `signal` to the worker's process. */
  kill(record: WorkerRecord, signal: NodeJS.Signals): void;
  /** Whether the worker's process has not exited yet. */
  running(record: WorkerRecord): boolean;
  /** Tell a stopping worker to finish what it has while others serve on; says whether it was given the
   *  last copies of its sockets (then it serves what is queued there, even while booting). */
  handOver(record: WorkerRecord): boolean;
}

export interface SupervisionContext {
  now: () => number;
  settings: () => SupervisedSettings;
  workers: WorkerTable;
  absences: Absences;
  bootAttempts: BootAttempts;
  processes: WorkerProcesses;
  log: Logger;
  /** A worker went silent, or did not boot in time, `silentMs` long: it is stopping now, to be aborted
   *  once its stack has been read (abortTimedOut). */
  timedOut: (record: WorkerRecord, fault: TimeoutFault, silentMs: number) => void;
  /** --max-worker-memory read from /proc (memory-watch.ts); undefined: no /proc. */
  readResident?: ReadResident;
}

export class Supervision {
  /** When --max-worker-memory next reads /proc (Infinity: not watched until the next call). */
  private memoryDueAt = Infinity;

  constructor(private readonly context: SupervisionContext) {}

  /** Workers silent past --timeout, or still booting past --worker-boot-timeout, are timed out. */
  abortSilentWorkers(): void {
    const { workers, absences } = this.context;
    const settings = this.context.settings();
    const now = this.context.now();
    let oldest = now;
    for (const record of workers.values()) {
      const silence = silenceDeadline(record, now, settings, absences);
      if (!silence) continue;
      oldest = Math.min(oldest, silence.since);
      if (now >= silence.at) this.timeOut(record, silence.due, absences.present(silence.since, now));
    }
    absences.forget(oldest);
  }

  /** Workers past --max-worker-lifetime are replaced (--max-worker-memory is watchMemory's). */
  recycleWorkers(): void {
    const { maxWorkerLifetime } = this.context.settings();
    const now = this.context.now();
    for (const record of this.context.workers.values()) {
      // retireAt is Infinity without --max-worker-lifetime.
      if (record.state !== 'ready' || now < record.retireAt) continue;
      const lifetime = `--max-worker-lifetime ${formatDuration(maxWorkerLifetime)}`;
      this.retire(record, 'max-lifetime', `has run for ${formatDuration(now - record.spawnedAt)} (${lifetime})`);
    }
  }

  /** Workers whose stop (or abort) overran its deadline are killed. */
  killOverdueStops(): void {
    const now = this.context.now();
    const { processes, log } = this.context;
    for (const record of this.context.workers.values()) {
      // killAt is Infinity until the worker is told to stop.
      if (now < record.killAt) continue;
      if (processes.running(record)) {
        log.warn({ workerId: record.id, workerPid: record.pid }, `Killing worker (pid:${record.pid})`);
        processes.kill(record, 'SIGKILL');
      }
      record.killAt = Infinity;
    }
  }

  /**
   * --max-worker-memory, every CHECK_MS, from /proc (memory-watch.ts); without /proc, the heartbeat's
   * figure, each turn (a heartbeat wakes the loop). A worker past it stops accepting and is
   * replaced at once; one that grows by HARD_MEMORY_MARGIN of the limit more (a leak that goes on, or
   * one in a loop that never lets the worker act) is killed. A booting worker is left to
   * --worker-boot-timeout.
   */
  watchMemory(): void {
    const limit = this.context.settings().maxWorkerMemory;
    const read = this.context.readResident;
    if (limit === 0) {
      this.memoryDueAt = Infinity;
      return;
    }
    if (read) {
      const now = this.context.now();
      // Infinity: not watched until now (a reload may set the limit).
      if (this.memoryDueAt !== Infinity && now < this.memoryDueAt) return;
      this.memoryDueAt = now + CHECK_MS;
    }
    for (const record of this.context.workers.values()) {
      if (record.state === 'booting') continue;
      const verdict = judge(record, read ? read(record.pid) : record.rss, limit);
      if (verdict?.kind === 'over') {
        record.rss = verdict.rss;
        this.replaceOverMemory(record, undefined);
      } else if (verdict?.kind === 'kill') {
        const more = `${HARD_MEMORY_MARGIN} × --max-worker-memory ${formatSize(limit)} more than at ${formatSize(verdict.passedAt)}`;
        const why = `it uses ${formatSize(verdict.rss)} of memory, ${more}`;
        this.context.log.error(
          { workerId: record.id, workerPid: record.pid, rss: verdict.rss },
          `Killing worker (pid: ${record.pid}): ${why}, when it passed the limit and was told to stop`,
        );
        record.state = 'stopping';
        record.stopReason ??= 'max-memory';
        // Judged no more: it is being killed.
        record.overMemoryAt = Infinity;
        this.context.processes.kill(record, 'SIGKILL');
      }
    }
  }

  /** The worker passed a memory limit: it stops accepting now, and its replacement starts now. */
  replaceOverMemory(record: WorkerRecord, heap: { used: number; limit: number } | undefined): void {
    const why = heap
      ? `has ${formatSize(heap.used)} of its ${formatSize(heap.limit)} heap in use after a full GC`
      : `uses ${formatSize(record.rss)} of memory, over --max-worker-memory ${formatSize(this.context.settings().maxWorkerMemory)}`;
    this.retire(record, 'max-memory', why);
    if (record.state === 'retiring') this.stopWorker(record, record.stopReason ?? 'max-memory');
  }

  /** The worker asked to be replaced: it has served --max-requests. */
  retireServed(record: WorkerRecord): void {
    this.retire(record, 'max-requests', `has served ${record.requests} requests (--max-requests ${this.context.settings().maxRequests})`);
  }

  /** Replace a worker: it serves on until a replacement is ready, then stops gracefully. */
  retire(record: WorkerRecord, reason: ExitReason, why: string): void {
    if (record.state !== 'ready') return;
    record.state = 'retiring';
    record.stopReason = reason;
    this.context.log.info({ workerId: record.id, workerPid: record.pid }, `Replacing worker (pid:${record.pid}): it ${why}`);
  }

  /** Gracefully stop one worker while others serve on: it finishes its requests and exits, or is killed at its deadline. */
  stopWorker(record: WorkerRecord, reason: ExitReason): void {
    const booting = record.state === 'booting';
    record.state = 'stopping';
    record.stopReason = reason;
    const lastOnSocket = this.context.processes.handOver(record);
    // A worker still booting serves nothing yet; if its load hangs it cannot act on the message.
    // One given the last copies of its sockets finishes booting to serve what is queued there.
    const { gracefulTimeout } = this.context.settings();
    const grace = booting && !lastOnSocket ? Math.min(QUICK_STOP_GRACE_MS, gracefulTimeout) : gracefulTimeout;
    record.killAt = this.context.now() + grace;
  }

  /**
   * The stack of a timed-out worker has been read (or its time is up): log what it was stuck on and
   * abort it. Returns why the server stops when that boot timeout used up --boot-attempts (`stopping`:
   * it is stopping already).
   */
  abortTimedOut(record: WorkerRecord, silentMs: number, diagnosis: Diagnosis, stopping: boolean): UnicornError | undefined {
    const settings = this.context.settings();
    const { log, bootAttempts } = this.context;
    const boot = record.fault === 'boot-timeout';
    const limit = boot
      ? `--worker-boot-timeout ${formatDuration(settings.workerBootTimeout)}`
      : `--timeout ${formatDuration(settings.timeout)}`;
    const step = boot ? record.bootStep : undefined;
    log.error(
      { workerId: record.id, workerPid: record.pid, silentMs, stack: formatStack(diagnosis.frames), inFlight: diagnosis.inFlight },
      describeTimeout(record.pid, boot, silentMs, limit, diagnosis, step),
    );
    if (this.context.workers.has(record.id)) {
      // The abort path runs if the worker's loop can still run it; SIGKILL follows either way.
      this.context.processes.kill(record, 'SIGABRT');
      record.killAt = Math.min(record.killAt, this.context.now() + ABORT_GRACE_MS);
    }
    if (!boot || stopping || !bootAttempts.exhausted(settings.bootAttempts)) return undefined;
    const apps = appMounts(settings).map((mount) => mount.app);
    const file = step && 'file' in step ? step.file : undefined;
    const err = bootAttempts.giveUp(apps, process.cwd(), settings, describeWait(diagnosis, step), file);
    log.error({ workerId: record.id, workerPid: record.pid, code: err.code }, `${err.message}; stopping`);
    return err;
  }

  /** The earliest moment anything supervision watches is due (Infinity: nothing). */
  nextDueAt(stopping: boolean): number {
    const now = this.context.now();
    const settings = this.context.settings();
    let due = this.memoryDueAt;
    for (const record of this.context.workers.values()) {
      for (const deadline of workerDeadlines(record, now, settings, this.context.absences, stopping)) due = Math.min(due, deadline.at);
    }
    return due;
  }

  /** The worker is stopping now for its silence; what its stack shows is logged once read. */
  private timeOut(record: WorkerRecord, fault: TimeoutFault, silentMs: number): void {
    record.state = 'stopping';
    record.fault = fault;
    record.stopReason = fault;
    record.killAt = this.context.now() + DIAGNOSE_LIMIT_MS + ABORT_GRACE_MS;
    if (fault === 'boot-timeout') this.context.bootAttempts.timeOut(record.bootAttempt);
    this.context.timedOut(record, fault, silentMs);
  }
}
