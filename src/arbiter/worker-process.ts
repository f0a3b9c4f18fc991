/**
 * The arbiter's side of a worker process: its record, how it is forked (node:cluster, with the
 * worker's configuration in its environment), and the Node options workers run with.
 */
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ConfigSource } from '../config/file';
import type { Settings } from '../config/settings';
import type { ExitReason, WorkerState, WorkerStats } from '../hooks/types';
import { type BootStep, pipesStderr, WORKER_BOOT_ENV, type WorkerBoot } from '../ipc';
import { type Logger, loggerFor, passThrough } from '../shared/log';
import { INSPECT_ON_DEMAND, isInspectorNotice } from './diagnose';

/**
 * Where a worker is in its life, as the arbiter sees it:
 * - `booting`: forked, loading the app; not ready yet.
 * - `ready`: serving.
 * - `retiring`: serving, and to be stopped once a replacement is ready (recycling).
 * - `stopping`: told to stop, or being killed; waiting for its exit.
 */
export type { WorkerState } from '../hooks/types';

export interface WorkerRecord {
  id: number;
  pid: number;
  handle: Worker;
  state: WorkerState;
  /** The configuration it was started with: bumped by each reload. */
  generation: number;
  /** Its worker class is sync: it is passed a connection other workers handed back only when it asks. */
  sync: boolean;
  spawnedAt: number;
  everReady: boolean;
  /** When it said it was ready (undefined: never). */
  readyAt?: number;
  /** When it last showed its event loop turns: ready, or its latest heartbeat. */
  lastBeat: number;
  requests: number;
  /** Requests in flight, from its latest heartbeat. */
  inFlight: number;
  /** Event-loop utilisation (0 to 1) over the interval its latest heartbeat covers. */
  elu: number;
  /** Open connections, from its latest heartbeat. */
  connections: number;
  /** When its latest counts (a heartbeat or a report) arrived. */
  countsAt: number;
  /** Resident memory in bytes, from its latest heartbeat. */
  rss: number;
  /** Access-log lines it dropped, from its latest heartbeat. */
  accessLogDropped: number;
  /** Requests it served by mount, from its latest heartbeat. */
  mounts: Record<string, number>;
  /** What its hooks published, from its latest heartbeat that carried any. */
  published: Record<string, unknown>;
  /** When --max-worker-lifetime (with its jitter) replaces it. */
  retireAt: number;
  /** When it gets SIGKILL if it is still alive. */
  killAt: number;
  /** Set when the arbiter is killing it for not answering. */
  fault?: 'timeout' | 'boot-timeout';
  /** It reached --max-requests while still booting: replace it once it is ready. */
  retireRequested?: boolean;
  /** Why it could not boot, as it said before exiting. */
  bootError?: { message: string; code?: string };
  /** Which boot attempt it is, for --boot-attempts (boot-attempts.ts). */
  bootAttempt: number;
  /** The step of its boot it said it began last. */
  bootStep?: BootStep;
  /** Stopped while it booted, to serve the connections the arbiter held once ready, then stop (a stop while waking). */
  servesHeld?: boolean;
  /** Why it is being replaced or stopped (for childExit and the metrics). */
  stopReason?: ExitReason;
  /** Its start time (/proc/PID/stat), which tells it from a later process with its pid (reaper.ts). */
  startTime?: string;
  /** --max-worker-memory: its resident memory when it passed the limit (memory-watch.ts). */
  overMemoryAt?: number;
}

/** Stopped while it boots, to serve the connections the arbiter held once it is ready (a stop while waking). */
export const bootsToServeHeld = (record: WorkerRecord): boolean => record.servesHeld === true && !record.everReady;

/** The worker as hooks see it: a snapshot, no handles. */
export function workerStats(record: WorkerRecord, now: number, beats: BeatSettings, exit?: WorkerStats['exit']): WorkerStats {
  return {
    id: record.id,
    pid: record.pid,
    generation: record.generation,
    state: exit ? 'exited' : record.state,
    startedAt: Date.now() - (now - record.spawnedAt),
    age: now - record.spawnedAt,
    requests: record.requests,
    inFlight: record.inFlight,
    elu: busyness(record, now, beats),
    connections: record.connections,
    rss: record.rss,
    accessLogDropped: record.accessLogDropped,
    mounts: record.mounts,
    heartbeatAge: now - record.lastBeat,
    published: record.published,
    ...(exit ? { exit } : {}),
  };
}

/** Heartbeats come every --timeout/2, and at least this often (the memory limit reads them). */
const MAX_HEARTBEAT_MS = 5000;
/** With --workers MIN:MAX, at least this often: the scaler's window (5 s by default) needs several. */
const SCALING_HEARTBEAT_MS = 1000;

/** With --idle-timeout, a tenth of it, but no more often than this: idleness is judged from the
 *  heartbeats, and 5 s between them would keep a server with a 10 s timeout up for 15 s. */
const IDLE_HEARTBEAT_FLOOR_MS = 250;

/** What sets how often workers beat. */
export type BeatSettings = Pick<Settings, 'timeout' | 'workerBounds' | 'idleTimeout'>;

/** How often a worker beats (WorkerBoot.heartbeatMs). */
export const heartbeatInterval = ({ timeout, workerBounds, idleTimeout }: BeatSettings): number =>
  Math.min(
    timeout > 0 ? timeout / 2 : Infinity,
    workerBounds.by === 'load' ? SCALING_HEARTBEAT_MS : MAX_HEARTBEAT_MS,
    idleTimeout > 0 ? Math.max(IDLE_HEARTBEAT_FLOOR_MS, idleTimeout / 10) : Infinity,
  );

/** A worker half an interval past its heartbeat holds a request (sync) or its event loop is held:
 *  it is busy, whatever its last counts, sent before that, say. */
export const beatOverdue = (record: WorkerRecord, now: number, beats: BeatSettings): boolean =>
  now - record.lastBeat > 1.5 * heartbeatInterval(beats);

/** A serving worker's event-loop utilisation as the scaler and the stats read it: its heartbeat's,
 *  or 1 while it is late for the next. */
export const busyness = (record: WorkerRecord, now: number, beats: BeatSettings): number =>
  (record.state === 'ready' || record.state === 'retiring') && beatOverdue(record, now, beats) ? 1 : record.elu;

const WORKER_ENTRY = path.join(__dirname, '..', 'worker', 'main.js');

/** A worker's stdin, stdout, stderr, IPC channel, and (capturing) the arbiter's stderr and stdout. */
const INHERITED_STDIO = [0, 1, 2, 'ipc'];
const CAPTURED_STDIO = [0, 'pipe', 'pipe', 'ipc', 2, 1];
/** The error log is JSON on the arbiter's stderr: the worker's stderr alone is read (pipesStderr). */
const STDERR_PIPED_STDIO = [0, 1, 'pipe', 'ipc', 2, 1];

/**
 * Read what a worker writes to the pipes it has (pipesStderr). With --capture-output each line
 * (the app's console.log, a library's warning) goes to the error log as a line of that worker's,
 * at info (stdout) or error (stderr) level; without, a stderr line goes where the error log does
 * as it is. Node's inspector notices, which a diagnosis makes a worker print, go to the log at
 * debug level either way: they are unicorn's doing, and not JSON. Resolves once the pipes have
 * ended and every line is written: what a worker writes as it exits is still in them when its
 * exit is reported.
 */
export function readOutput(record: WorkerRecord, log: Logger, capture: boolean): Promise<void> {
  const { stdout, stderr } = record.handle.process;
  const workerLog = loggerFor(log, { role: 'worker', worker: record.id }, record.pid);
  const onLine = {
    stdout: (line: string) => workerLog.info({ stream: 'stdout' }, line),
    stderr: (line: string) => {
      if (isInspectorNotice(line)) workerLog.debug({ stream: 'stderr' }, line);
      else if (capture) workerLog.error({ stream: 'stderr' }, line);
      else passThrough(log, `${line}\n`);
    },
  };
  const ended = (
    [
      [stdout, 'stdout'],
      [stderr, 'stderr'],
    ] as const
  ).flatMap(([stream, name]) => {
    if (!stream) return [];
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', onLine[name]);
    // readline gives a last line without a newline before it closes.
    return [new Promise<void>((resolve) => lines.once('close', resolve))];
  });
  return Promise.all(ended).then(() => undefined);
}

/** Once, before the first fork. */
export function setupWorkers(): void {
  cluster.setupPrimary({
    exec: WORKER_ENTRY,
    args: [],
    execArgv: workerExecArgv(),
    // node:cluster gives each worker an inspector port of its own when the execArgv names one;
    // 0 lets the system pick a free one when the inspector opens.
    inspectPort: 0,
    silent: false,
  });
}

/** What a fork needs besides the settings. */
export interface ForkContext {
  id: number;
  generation: number;
  /** Addresses of the listeners, by index. */
  listeners: string[];
  now: number;
  arbiterStartedAt: number;
  launchCwd: string;
  configSource: ConfigSource | undefined;
  bootAttempt: number;
}

/**
 * Fork worker `id` with `settings`, drawing its jitter. Returns undefined, and calls `cannotFork`
 * (now or once the spawn's error event comes), when the process could not be started (no pids or
 * fds left).
 */
export function forkWorker(settings: Settings, fork: ForkContext, cannotFork: (err: Error) => void): WorkerRecord | undefined {
  const s = settings;
  const { id, generation, now } = fork;
  const boot: WorkerBoot = {
    workerId: id,
    generation,
    settings: s,
    arbiterStartedAt: fork.arbiterStartedAt,
    launchCwd: fork.launchCwd,
    configSource: fork.configSource,
    heartbeatMs: heartbeatInterval(s),
    maxRequests: s.maxRequests > 0 ? s.maxRequests + Math.floor(Math.random() * (s.maxRequestsJitter + 1)) : 0,
    listeners: fork.listeners,
  };
  let handle: Worker;
  try {
    // Only later forks see a change (a HUP that turns --capture-output on or off).
    cluster.setupPrimary({ stdio: s.captureOutput ? CAPTURED_STDIO : pipesStderr(s) ? STDERR_PIPED_STDIO : INHERITED_STDIO });
    handle = cluster.fork({ [WORKER_BOOT_ENV]: JSON.stringify(boot) });
  } catch (err) {
    cannotFork(err as Error);
    return undefined;
  }
  const pid = handle.process.pid;
  if (pid === undefined) {
    // The spawn failed; its error event follows, and no exit event will.
    handle.once('error', cannotFork);
    return undefined;
  }
  const lifetime = s.maxWorkerLifetime > 0 ? s.maxWorkerLifetime + Math.random() * s.maxWorkerLifetimeJitter : Infinity;
  return newWorkerRecord({
    id,
    pid,
    handle,
    generation,
    sync: s.workerClass === 'sync',
    spawnedAt: now,
    lastBeat: now,
    retireAt: now + lifetime,
    bootAttempt: fork.bootAttempt,
  });
}

/** What the arbiter knows of a worker it has just forked: booting, nothing counted yet. */
export function newWorkerRecord(
  fields: Pick<WorkerRecord, 'id' | 'pid' | 'handle' | 'generation' | 'sync' | 'spawnedAt' | 'lastBeat' | 'retireAt' | 'bootAttempt'>,
): WorkerRecord {
  return {
    ...fields,
    state: 'booting',
    everReady: false,
    requests: 0,
    inFlight: 0,
    elu: 0,
    connections: 0,
    countsAt: -Infinity,
    rss: 0,
    accessLogDropped: 0,
    mounts: {},
    published: {},
    killAt: Infinity,
  };
}

/**
 * The workers run with the arbiter's Node options, minus debugger flags (every worker would fight
 * for the same inspector port), plus an inspector port that is only opened when the arbiter reads a
 * stuck worker's stack (arbiter/diagnose.ts). Every supported Node strips TypeScript types by
 * default, so no flag is added for it (on Node 22 the flag made every worker warn, app in TypeScript
 * or not).
 */
function workerExecArgv(): string[] {
  const argv = process.execArgv.filter((arg) => !/^--inspect(-brk|-port|-wait|-publish-uid)?(=|$)/.test(arg));
  argv.push(...INSPECT_ON_DEMAND);
  return argv;
}
