/**
 * The watchdog thread of a worker (started by watchdog.ts, which says why). It runs off the
 * worker's main thread: a main thread stuck in a loop does not stop its timer. Kept small: a timer,
 * two cheap reads (getppid, and the resident memory, which no lack of descriptors fails), and the
 * logger loaded only to say why it kills.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { formatDuration } from '../config/duration';
import { formatSize } from '../config/size';
import { residentMemory } from '../resident-memory';
import { HARD_MEMORY_MARGIN, type OverMemory, type Watching, type WatchdogData } from './watchdog';

const data = workerData as WatchdogData;
const loopBeats = new Int32Array(data.loopBeats);
let lastBeat = Atomics.load(loopBeats, 0);
let lastBeatAt = performance.now();
/** The resident memory at which it passed --max-worker-memory. */
let overMemoryAt: number | undefined;

setInterval(check, data.checkMs);
parentPort!.postMessage({ type: 'watching' } satisfies Watching);

function check(): void {
  const now = performance.now();
  const beat = Atomics.load(loopBeats, 0);
  if (beat !== lastBeat) {
    lastBeat = beat;
    lastBeatAt = now;
  }
  const stuckMs = now - lastBeatAt;
  // Orphaned, a worker is reparented (to init or a subreaper): its parent pid changes.
  if (process.ppid !== data.arbiterPid && stuckMs >= data.orphanStuckMs) {
    return kill(`the arbiter (pid ${data.arbiterPid}) is gone and the worker's event loop has not turned for ${formatDuration(Math.round(stuckMs))}`);
  }
  if (data.maxMemory === 0) return;
  // Never throws: with no descriptor free (EMFILE) the last size read stands, and the thread, with
  // its orphan check, lives on.
  const rss = residentMemory();
  if (overMemoryAt === undefined) {
    if (rss <= data.maxMemory) return;
    overMemoryAt = rss;
    parentPort!.postMessage({ type: 'over-memory', rss } satisfies OverMemory);
  } else if (rss > overMemoryAt + data.maxMemory * HARD_MEMORY_MARGIN) {
    return kill(
      `it uses ${formatSize(rss)} of memory, ${HARD_MEMORY_MARGIN} × --max-worker-memory ${formatSize(data.maxMemory)} more than at ${formatSize(overMemoryAt)}, ` +
        'when it passed the limit and was told to stop',
    );
  }
}

/** Say why, where the worker logs, and kill the process (the thread cannot end it otherwise while
 *  the main thread is stuck). */
function kill(why: string): void {
  try {
    const { createLogger } = require('../log') as typeof import('../log');
    const { workerId, settings, stderrFd } = data.log;
    createLogger({ role: 'worker', worker: workerId }, settings, stderrFd).error(`Killing worker (pid: ${process.pid}): ${why}`);
  } catch {
    // Nowhere to say it: the kill matters more.
  }
  process.kill(process.pid, 'SIGKILL');
}
