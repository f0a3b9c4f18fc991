/**
 * --max-worker-memory, watched from the arbiter: it reads each worker's resident memory from /proc
 * every CHECK_MS, on its own loop's clock. The arbiter is never the stuck one: a worker leaking in
 * a loop that never lets its event loop turn is seen all the same, which its own heartbeat is not.
 * Without /proc (not Linux), the worker's heartbeat gives the figure judged (Supervision.watchMemory).
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** How often the workers are looked at. 10 MB between looks at a leak of 100 MB/s. */
export const CHECK_MS = 100;
/** Growth, as a share of --max-worker-memory, after which a worker over the limit is killed. */
export const HARD_MEMORY_MARGIN = 0.25;

/** What became of a look at one worker. */
export type MemoryVerdict =
  /** It passed the limit just now: replace it, and stop it accepting at once. */
  | { kind: 'over'; rss: number }
  /** It grew by HARD_MEMORY_MARGIN of the limit after it passed it (at `passedAt`): kill it. */
  | { kind: 'kill'; rss: number; passedAt: number }
  | undefined;

/** The watch's state for one worker. */
export interface WatchedMemory {
  pid: number;
  /** The resident memory at which it passed the limit. */
  overMemoryAt?: number;
}

/** A worker's resident memory, in bytes, from /proc/PID/statm (its second field, in pages). */
export type ReadResident = (pid: number) => number | undefined;

/** Judge one read (undefined: the read failed, and nothing is decided). */
export function judge(watched: WatchedMemory, rss: number | undefined, limit: number): MemoryVerdict {
  if (rss === undefined) return undefined;
  if (watched.overMemoryAt === undefined) {
    if (rss <= limit) return undefined;
    watched.overMemoryAt = rss;
    return { kind: 'over', rss };
  }
  if (rss > watched.overMemoryAt + limit * HARD_MEMORY_MARGIN) return { kind: 'kill', rss, passedAt: watched.overMemoryAt };
  return undefined;
}

const buffer = Buffer.alloc(256);

/** Resident pages of `pid` (statm is a few numbers: one read). An open and a read of a reused
 *  buffer costs about a third of readFileSync's and of /proc/PID/status's parse (RESULTS.md). */
function residentPages(pid: number | 'self'): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/statm`, 'r');
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    const fields = buffer.toString('latin1', 0, length).split(' ', 2);
    const pages = Number(fields[1]);
    return Number.isFinite(pages) ? pages : undefined;
  } catch {
    // The worker is gone, or no descriptor is free (EMFILE) for the moment: no figure this time.
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A reader of workers' resident memory, or undefined where /proc has none to give. The page size
 * (4096 on Linux x86-64 and most arm64, 16 or 64 KB on some arm64 kernels) is not in Node's API: it
 * is the one of those that turns the arbiter's own resident pages into its own resident bytes.
 */
export function residentReader(): ReadResident | undefined {
  const pages = residentPages('self');
  if (pages === undefined || pages === 0) return undefined;
  const perPage = process.memoryUsage.rss() / pages;
  const pageSize = [4096, 16384, 65536].reduce((best, size) => (Math.abs(size - perPage) < Math.abs(best - perPage) ? size : best));
  return (pid) => {
    const resident = residentPages(pid);
    return resident === undefined ? undefined : resident * pageSize;
  };
}
