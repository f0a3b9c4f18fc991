/**
 * The arbiter's decision modules (staffing, supervision, reload) wired as the arbiter wires them,
 * around a clock the test moves and a fake process table: no fork, no signal leaves the test.
 */
import { Absences } from '../../src/arbiter/absences';
import { BootAttempts } from '../../src/arbiter/boot-attempts';
import { Reload } from '../../src/arbiter/reload';
import { type ExitOutcome, Staffing } from '../../src/arbiter/staffing';
import { type SupervisedSettings, Supervision, type TimeoutFault, type WorkerProcesses } from '../../src/arbiter/supervision';
import { newWorkerRecord, type WorkerRecord } from '../../src/arbiter/worker-process';
import { WorkerTable } from '../../src/arbiter/worker-table';
import type { Settings } from '../../src/config/settings';
import type { Logger } from '../../src/shared/log';

export type FakeSettings = SupervisedSettings & Pick<Settings, 'workerBounds' | 'idleTimeout'>;

/** A worker record as forkWorker makes one, without a process behind it. */
export function workerRecord(id: number, fields: Partial<WorkerRecord> = {}): WorkerRecord {
  const record = newWorkerRecord({
    id,
    pid: 1000 + id,
    handle: undefined as never,
    generation: 1,
    sync: false,
    spawnedAt: 0,
    lastBeat: 0,
    retireAt: Infinity,
    bootAttempt: 1,
  });
  return { ...record, ...fields };
}

/** Signals sent and hand-overs made, by worker id; which processes have exited. */
export class FakeProcesses implements WorkerProcesses {
  readonly signals: Array<[id: number, signal: NodeJS.Signals]> = [];
  readonly handedOver: number[] = [];
  readonly exited = new Set<number>();

  kill(record: WorkerRecord, signal: NodeJS.Signals): void {
    this.signals.push([record.id, signal]);
  }

  running(record: WorkerRecord): boolean {
    return !this.exited.has(record.id);
  }

  handOver(record: WorkerRecord): boolean {
    this.handedOver.push(record.id);
    return false;
  }
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

function fakeLog(lines: LogLine[]): Logger {
  const at = (level: LogLine['level']) => (fields: unknown, message?: string) =>
    lines.push({ level, message: typeof fields === 'string' ? fields : (message ?? '') });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
}

export function fakeArbiter(overrides: Partial<FakeSettings> = {}) {
  const settings: FakeSettings = {
    timeout: 30_000,
    workerBootTimeout: 0,
    gracefulTimeout: 30_000,
    maxWorkerMemory: 0,
    maxWorkerLifetime: 0,
    maxRequests: 0,
    bootAttempts: 0,
    workerBounds: { min: 1, max: 1, by: 'count' },
    idleTimeout: 0,
    app: { raw: './app.js', module: './app.js', exportPath: [] },
    mounts: [],
    ...overrides,
  };
  let time = 0;
  const now = () => time;
  const lines: LogLine[] = [];
  const log = fakeLog(lines);
  const workers = new WorkerTable();
  const absences = new Absences();
  const bootAttempts = new BootAttempts();
  const processes = new FakeProcesses();
  const reload = new Reload<{ target: number }>();
  const timedOut: Array<{ id: number; fault: TimeoutFault; silentMs: number }> = [];
  let lastId = 0;
  let target = 0;
  /** preFork, as a plugin would have it: false refuses the worker at once. */
  const hooks = { preFork: (_generation: number) => true, spawned: 0 };
  const supervision = new Supervision({
    now,
    settings: () => settings,
    workers,
    absences,
    bootAttempts,
    processes,
    log,
    timedOut: (record, fault, silentMs) => timedOut.push({ id: record.id, fault, silentMs }),
  });
  const staffing = new Staffing({
    now,
    settings: () => settings,
    target: () => target,
    generation: () => reload.generation,
    reloadStarting: () => reload.starting,
    workers,
    bootAttempts,
    log,
    // preFork that ends at once, and a fork that starts at once (Arbiter.spawnWorker).
    spawn: () => {
      hooks.spawned++;
      const generation = reload.generation;
      if (!hooks.preFork(generation)) {
        if (!reload.isStarting(generation)) return staffing.failedStart('was refused by preFork');
        staffing.stopGeneration(generation);
        reload.failed();
        return;
      }
      const fields = { generation: reload.generation, spawnedAt: time, lastBeat: time, bootAttempt: bootAttempts.next() };
      workers.add(workerRecord(++lastId, fields));
    },
    stopWorker: (record, reason) => supervision.stopWorker(record, reason),
    // A worker answers at once.
    askCounts: (record) => {
      record.countsAt = time;
    },
  });
  return {
    settings,
    hooks,
    lines,
    workers,
    absences,
    bootAttempts,
    processes,
    reload,
    supervision,
    staffing,
    timedOut,
    now,
    /** Move the clock on by `ms`. */
    advance(ms: number): void {
      time += ms;
    },
    /** The worker said it is ready (Arbiter.handleMessage). */
    ready(record: WorkerRecord): void {
      record.state = 'ready';
      record.everReady = true;
      bootAttempts.ready();
      record.readyAt = record.lastBeat = time;
    },
    /** The worker's process exited (Arbiter.onWorkerExit). */
    exit(record: WorkerRecord, code: number | null, signal: NodeJS.Signals | null = null): ExitOutcome {
      workers.delete(record.id);
      return staffing.judgeExit(record, code, signal, false, reload.isStarting(record.generation));
    },
    /** The arbiter's turn with `count` workers wanted, when not stopping: supervision, then staffing (Arbiter.run). No /proc:
     *  --max-worker-memory judges the heartbeat's figure. */
    turn(count: number): boolean {
      target = count;
      supervision.watchMemory();
      supervision.abortSilentWorkers();
      supervision.recycleWorkers();
      const reloadReady = staffing.manage();
      supervision.killOverdueStops();
      return reloadReady;
    },
  };
}
