/**
 * The worker's watchdog: a small thread (watchdog-thread.ts) beside the worker's main thread, for
 * what the main thread's event loop cannot be trusted to do, stuck in a loop or leaking fast:
 * - the arbiter is gone (even killed with SIGKILL) and the event loop has not turned for
 *   ORPHAN_STUCK_MS: nothing will ever stop this worker, which holds the listening sockets, so the
 *   thread kills its process. A worker whose loop turns stops itself (the 'disconnect' handler).
 * - with --max-worker-memory, the thread reads the resident memory every CHECK_MS and tells the
 *   main thread when it passes the limit (which then stops to be replaced). Should the memory grow
 *   by HARD_MEMORY_MARGIN of the limit after that (a leak that goes on while the worker drains, or
 *   a loop that never lets the main thread act), it kills the process. (A worker that grew past
 *   the limit in one step and grows no more drains in peace.)
 * Node has no parent-death signal (Linux's PR_SET_PDEATHSIG), and a timer of the main thread's is
 * what a stuck loop stops; a thread is neither. Its cost is in benchmarks/RESULTS.md.
 */
import path from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { WorkerBoot } from '../ipc';
import type { Logger } from '../log';

/** How often the thread looks. 10 MB between looks at a leak of 100 MB/s. */
const CHECK_MS = 100;
/** How often the main thread shows the thread that its event loop turns. */
const LOOP_BEAT_MS = 250;
/** An orphaned worker whose event loop has not turned for this long is killed. */
const ORPHAN_STUCK_MS = 2000;
/** Growth, as a share of --max-worker-memory, after which a worker over the limit is killed. */
export const HARD_MEMORY_MARGIN = 0.25;

/** What the thread is started with (its workerData). */
export interface WatchdogData {
  arbiterPid: number;
  checkMs: number;
  orphanStuckMs: number;
  /** Bytes; 0 for no limit. */
  maxMemory: number;
  /** An Int32Array's buffer: [0] counts the main thread's loop beats. */
  loopBeats: SharedArrayBuffer;
  /** Where and as whom the thread logs the line before it kills (log.ts's createLogger). */
  log: { workerId: number; settings: WorkerBoot['settings']; stderrFd: number };
}

/** Thread → main thread: resident memory passed --max-worker-memory. Sent once. */
export interface OverMemory {
  type: 'over-memory';
  rss: number;
}

/** Thread → main thread: its modules are loaded and its timer runs. Sent once, first. From then
 *  on it needs no descriptor (before, it may fail to load for lack of one). */
export interface Watching {
  type: 'watching';
}

/** Start the thread; `onOverMemory` runs on the main thread. A thread that cannot start is logged. */
export function startWatchdog(boot: WorkerBoot, stderrFd: number, log: Logger, onOverMemory: (rss: number) => void): void {
  const maxMemory = boot.settings.maxWorkerMemory;
  const loopBeats = new SharedArrayBuffer(4);
  const data: WatchdogData = {
    arbiterPid: process.ppid,
    checkMs: CHECK_MS,
    orphanStuckMs: ORPHAN_STUCK_MS,
    maxMemory,
    loopBeats,
    log: { workerId: boot.workerId, settings: boot.settings, stderrFd },
  };
  const thread = new Worker(path.join(__dirname, 'watchdog-thread.js'), {
    workerData: data,
    // None of the worker's Node options (an inspector port) apply to the thread.
    execArgv: [],
    env: SHARE_ENV,
    // Enough for its timer, and for loading the logger once before it kills.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
  });
  thread.on('message', (message: Watching | OverMemory) => {
    if (message.type === 'over-memory') onOverMemory(message.rss);
    // test/integration/watchdog.test.ts waits for this line before it takes every descriptor.
    else log.debug(`The worker's watchdog thread is watching (every ${CHECK_MS}ms)`);
  });
  thread.on('error', (err) => log.warn({ err }, `The worker's watchdog thread failed: ${err.message}; a stuck worker of a killed arbiter is not stopped`));
  // The thread never keeps the worker alive.
  thread.unref();
  const beats = new Int32Array(loopBeats);
  setInterval(() => Atomics.add(beats, 0, 1), LOOP_BEAT_MS).unref();
}
