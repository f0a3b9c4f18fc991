/**
 * How many workers run, and which (Gunicorn's manage_workers): forks up to the target unless the
 * crash backoff holds one back (respawn-backoff.ts) or the boot attempts are used up; stops the
 * idlest beyond the target, and retiring workers once they are replaced, oldest first; and judges
 * what a worker's exit means. The arbiter forks and stops through the functions it gives.
 */
import { formatDuration } from '../config/duration';
import type { Settings } from '../config/settings';
import type { ExitReason } from '../hooks/types';
import { ExitCode } from '../shared/exit-codes';
import type { Logger } from '../shared/log';
import type { BootAttempts } from './boot-attempts';
import { RespawnBackoff, SERVED_AFTER_MS } from './respawn-backoff';
import { beatOverdue, type WorkerRecord } from './worker-process';
import { byAge, type WorkerTable } from './worker-table';

/** It exited with the code of an app that did not load or a worker that could not boot, never having been ready. */
export function failedToBoot(record: WorkerRecord, code: number | null): boolean {
  return !record.everReady && (code === ExitCode.APP_LOAD_ERROR || code === ExitCode.WORKER_BOOT_ERROR);
}

/** Whom a smaller count stops first: one still booting (it serves nothing yet), then the fewest
 *  requests in flight, then the fewest open connections, as of their latest counts (at least one in
 *  flight for a `held` worker: its counts are from before what holds it), then the oldest.
 *  Whichever it is finishes what it has (a graceful hand-over). */
export function idlestFirst(held: (record: WorkerRecord) => boolean): (a: WorkerRecord, b: WorkerRecord) => number {
  const inFlight = (r: WorkerRecord) => (r.state !== 'booting' && held(r) ? Math.max(1, r.inFlight) : r.inFlight);
  return (a, b) =>
    Number(b.state === 'booting') - Number(a.state === 'booting') ||
    inFlight(a) - inFlight(b) ||
    a.connections - b.connections ||
    byAge(a, b);
}

/** How long a smaller count waits for the counts it asks the workers for: they answer in
 *  milliseconds unless a request holds them, and one that has not answered by then is taken as busy. */
export const FRESH_COUNTS_MS = 1000;

/** What the arbiter must do about a worker's exit beyond replacing it (manage does that). */
export type ExitOutcome =
  /** It was a new worker of the reload under way: the reload fails (`detail`: why it could not boot, as it said). */
  | { kind: 'reload-failed'; why: string; detail: string | undefined }
  /** It could not load the app or boot and no worker serves: respawning would fail the same way. */
  /** `why`: the one-line reason, as the log says it. */
  | { kind: 'unservable'; exitCode: ExitCode; why: string }
  | undefined;

export interface StaffingContext {
  now: () => number;
  settings: () => Pick<Settings, 'bootAttempts' | 'workerBootTimeout' | 'timeout' | 'workerBounds' | 'idleTimeout'>;
  /** The worker count wanted. */
  target: () => number;
  /** The generation of the configuration in force: the one forked. */
  generation: () => number;
  /** A reload's new workers are starting (Reload.starting). */
  reloadStarting: () => boolean;
  workers: WorkerTable;
  bootAttempts: BootAttempts;
  log: Logger;
  /** Begin forking one worker of the current generation (preForkBegun at once, the fork once preFork has run). */
  spawn: () => void;
  /** Ask a worker for its counts now (`unicorn:report`): they arrive as `countsAt`. */
  askCounts: (record: WorkerRecord) => void;
  /** Gracefully stop a worker while the others serve on. */
  stopWorker: (record: WorkerRecord, reason: ExitReason) => void;
  /** The crash backoff (a test gives its own). */
  backoff?: RespawnBackoff;
}

export class Staffing {
  private readonly backoff: RespawnBackoff;
  /** Workers whose preFork hook is running or queued: id → generation. */
  private readonly preForking = new Map<number, number>();
  /** The latest moment a worker now gone had served for SERVED_AFTER_MS (servedAt). */
  private goneServedAt = -Infinity;
  /** The generation and reason of the boot failure last logged (logBootError). */
  private lastBootError: string | undefined;
  /** When a smaller count asked the workers for their counts, until it has chosen whom to stop. */
  private countsAskedAt: number | undefined;

  constructor(private readonly context: StaffingContext) {
    this.backoff = context.backoff ?? new RespawnBackoff();
  }

  /**
   * Fork workers of the current generation up to the target, once any respawn delay has passed.
   * During a reload, says whether its workers are all ready; otherwise stops workers beyond the
   * target and retiring ones now replaced. Reads the generation and the target as it goes: a
   * preFork that refuses a reload's worker at once fails the reload in the middle of this.
   */
  manage(): boolean {
    const { workers, bootAttempts, now, target, generation } = this.context;
    // A failed fork or preFork holds one back, which ends this. With the boot attempts used up, the
    // server stops once the last one's stack is read (Supervision.abortTimedOut).
    const mayFork = () => !bootAttempts.exhausted(this.context.settings().bootAttempts);
    const wanted = () => workers.counting(generation()).length + this.forking(generation()) + this.backoff.held(now()) < target();
    while (mayFork() && wanted()) this.context.spawn();
    const current = workers.counting(generation());
    const ready = current.filter((r) => r.state === 'ready');
    if (this.context.reloadStarting()) return ready.length >= target() && ready.length === current.length;
    for (const record of this.idlest(current, current.length - target())) this.context.stopWorker(record, 'scale-down');
    // A retiring worker is stopped once the workers that count can serve without it.
    const retiring = workers.retiring();
    const surplus = Math.min(retiring.length, ready.length + retiring.length - target());
    for (const record of retiring.slice(0, Math.max(0, surplus))) this.context.stopWorker(record, record.stopReason ?? 'max-requests');
    return false;
  }

  /**
   * The `excess` workers of `current` to stop, chosen on counts they sent after being asked: a
   * heartbeat's are up to an interval old, from before the requests now in flight. None while the
   * answers are awaited (FRESH_COUNTS_MS at most).
   */
  private idlest(current: readonly WorkerRecord[], excess: number): WorkerRecord[] {
    if (excess <= 0) {
      this.countsAskedAt = undefined;
      return [];
    }
    // All of them go (an idle stop, WINCH): there is no one to choose.
    if (excess >= current.length) return [...current];
    const now = this.context.now();
    const ready = current.filter((r) => r.state === 'ready');
    if (this.countsAskedAt === undefined) {
      this.countsAskedAt = now;
      for (const record of ready) this.context.askCounts(record);
    }
    const askedAt = this.countsAskedAt;
    const unanswered = (r: WorkerRecord) => r.state === 'ready' && r.countsAt < askedAt;
    if (ready.some(unanswered) && now - askedAt < FRESH_COUNTS_MS) return [];
    this.countsAskedAt = undefined;
    const beats = this.context.settings();
    const held = (r: WorkerRecord) => unanswered(r) || beatOverdue(r, now, beats);
    return [...current].sort(idlestFirst(held)).slice(0, excess);
  }

  /** A reload's workers (of `generation`) are all ready: the workers of earlier ones stop. Returns how many. */
  stopPrevious(generation: number): number {
    const old = this.context.workers.unstoppedBefore(generation);
    for (const record of old) this.context.stopWorker(record, 'reload');
    return old.length;
  }

  /** A reload failed: its new workers (of `generation`) stop, and the previous ones serve on. */
  stopGeneration(generation: number): void {
    for (const record of this.context.workers.unstoppedOf(generation)) this.context.stopWorker(record, 'reload-failed');
  }

  /** Worker `id` of `generation` waits for its preFork hook. */
  preForkBegun(id: number, generation: number): void {
    this.preForking.set(id, generation);
  }

  preForkEnded(id: number): void {
    this.preForking.delete(id);
  }

  /** Workers of `generation` waiting for their preFork hook. */
  forking(generation: number): number {
    let count = 0;
    for (const g of this.preForking.values()) if (g === generation) count++;
    return count;
  }

  /** A fork could not even be started (no pids or file descriptors left): it is retried shortly. */
  forkFailed(): void {
    this.backoff.forkFailed(this.context.now());
  }

  /** When the next fork held back may go (Infinity: none is). */
  nextReleaseAt(): number {
    return this.backoff.nextRelease(this.context.now());
  }

  /** A worker start failed (`why`, said of the worker): its replacement waits, longer for each
   *  failed start in a row since a worker last served (respawn-backoff.ts). */
  failedStart(why: string): void {
    let servedAt = this.goneServedAt;
    for (const record of this.context.workers.values()) servedAt = Math.max(servedAt, this.servedAt(record) ?? -Infinity);
    const { streak, delayMs } = this.backoff.failed(this.context.now(), servedAt);
    if (streak > 1) {
      this.context.log.warn(
        { failedStarts: streak, delayMs },
        `${streak} worker starts failed in a row (the last ${why}); next respawn in ${formatDuration(delayMs)}`,
      );
    }
  }

  /**
   * What the exit of `record` (already out of the table) means: it is logged, its replacement is held
   * back if its start failed, and what the arbiter must do beyond that is returned. `stopping`: the
   * server is stopping; `reloadStarting`: it was a new worker of the reload under way.
   */
  judgeExit(
    record: WorkerRecord,
    code: number | null,
    signal: NodeJS.Signals | null,
    stopping: boolean,
    reloadStarting: boolean,
  ): ExitOutcome {
    const { log } = this.context;
    const served = this.servedAt(record);
    if (served !== undefined) this.goneServedAt = Math.max(this.goneServedAt, served);
    if (record.bootError) this.logBootError(record, record.bootError);
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const fields = { workerId: record.id, workerPid: record.pid, code, signal };
    if (reloadStarting) {
      log.error(fields, `New worker (pid:${record.pid}) ${how} before the reload completed`);
      return { kind: 'reload-failed', why: `worker (pid:${record.pid}) ${how}`, detail: record.bootError?.message };
    }
    if (record.fault === 'timeout' || (record.state === 'stopping' && !record.fault)) {
      log.info(fields, `Worker (pid:${record.pid}) ${how}`);
      return undefined;
    }
    if (failedToBoot(record, code)) {
      const what = code === ExitCode.APP_LOAD_ERROR ? 'App failed to load' : 'Worker failed to boot';
      const serving = this.context.workers.serving().length;
      if (serving === 0) {
        // Respawning would fail the same way, with nothing served meanwhile.
        log.error(fields, `${what} in worker (pid:${record.pid}); stopping`);
        return {
          kind: 'unservable',
          exitCode: code as ExitCode,
          why: record.bootError?.message ?? `${what} in worker (pid:${record.pid})`,
        };
      }
      // Workers that loaded the app earlier serve on (after a failed reload, the code on disk may no
      // longer load): a bad deploy does not take them down. Replacements are retried with backoff.
      log.error(fields, `${what} in a new worker (pid:${record.pid}); ${serving} workers that loaded it earlier serve on`);
      if (!stopping) this.failedStart(code === ExitCode.APP_LOAD_ERROR ? 'failed to load the app' : 'failed to boot');
      return undefined;
    }
    log.error(fields, `Worker (pid:${record.pid}) ${how}`);
    // One that had served is replaced at once (respawn-backoff.ts).
    if (stopping || served !== undefined) return undefined;
    const why =
      record.fault === 'boot-timeout'
        ? `did not boot within --worker-boot-timeout ${formatDuration(this.context.settings().workerBootTimeout)}`
        : record.readyAt === undefined
          ? `${how} while booting`
          : `${how} ${formatDuration(this.context.now() - record.readyAt)} after it was ready`;
    this.failedStart(why);
    return undefined;
  }

  /** When `record` had served for SERVED_AFTER_MS (ready that long, to this moment), if it has. */
  private servedAt(record: WorkerRecord): number | undefined {
    if (record.readyAt === undefined) return undefined;
    const at = record.readyAt + SERVED_AFTER_MS;
    return at <= this.context.now() ? at : undefined;
  }

  /**
   * Why a worker could not boot, once: the workers of a start or a reload that all fail on the same
   * broken file would otherwise each log it. The same reason is logged again for a later start of
   * workers (another reload, a respawn after the backoff).
   */
  private logBootError(record: WorkerRecord, error: { message: string; code?: string }): void {
    const key = `${record.generation}\0${error.message}`;
    const fields = { workerId: record.id, workerPid: record.pid, code: error.code };
    if (this.lastBootError === key) {
      this.context.log.debug(fields, `Worker (pid:${record.pid}) failed to boot the same way: ${error.message}`);
      return;
    }
    this.lastBootError = key;
    this.context.log.error(fields, error.message);
  }
}
