/**
 * The access log's descriptor, as its writer (access-log-writer.ts) needs it: opened to append
 * without ever blocking, how much one write to it takes whole, and undoing a write cut short.
 */
import { constants, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';

/** POSIX writes this much to a pipe whole, whatever else writes to it. */
const PIPE_BUF = 4096;
/** To a file, appends of any size are whole (O_APPEND); this is one write's share. */
const FILE_WRITE = 64 * 1024;

/** An open log: its descriptor, and whether it can be read back (undoTail). */
export interface Opened {
  fd: number;
  readable: boolean;
}

/**
 * A file opened to append, never blocking: a FIFO read and written (so that opening it does not
 * wait for a reader, and a write to it when full fails with EAGAIN instead of holding a thread),
 * and read back to undo a torn write (undoTail). A file the worker may write but not read is opened
 * for writing only.
 */
export function openForAppend(file: string): Opened {
  const flags = constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
  try {
    return { fd: openSync(file, flags | constants.O_RDWR), readable: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    return { fd: openSync(file, flags | constants.O_WRONLY), readable: false };
  }
}

/**
 * The standard output: when it is a pipe, opened again (Linux's /proc) for a descriptor of the
 * worker's own that does not block, without changing the one it shares with the arbiter.
 */
export function ownPipeEnd(fd: number): number {
  try {
    if (fstatSync(fd).isFIFO()) return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    // No /proc, or nobody reads the pipe (ENXIO): the descriptor as it is.
  }
  return fd;
}

/**
 * How much one write takes, and whether a torn one can be undone. Every worker writes the same file
 * or pipe: appends to a regular file do not interleave whatever their size, and large writes are
 * cheap; a write to a pipe (or a terminal, or a socket) is only whole up to PIPE_BUF bytes, so lines
 * go to it in chunks no larger (a single line longer than that is written alone, and may interleave
 * on a pipe, as it would in Gunicorn).
 */
export function shapeOf({ fd, readable }: Opened): [maxWrite: number, canUndo: boolean] {
  try {
    const isFile = fstatSync(fd).isFile();
    return [isFile ? FILE_WRITE : PIPE_BUF, isFile && readable];
  } catch {
    return [PIPE_BUF, false]; // a closed descriptor: writing will say so
  }
}

/** Cut `fragment` off the end of the file, if the file ends with it: the start of a torn line. */
export function undoTail(fd: number, fragment: Buffer): boolean {
  try {
    const { size } = fstatSync(fd);
    if (size < fragment.length) return false;
    const tail = Buffer.alloc(fragment.length);
    readSync(fd, tail, 0, fragment.length, size - fragment.length);
    if (!tail.equals(fragment)) return false;
    ftruncateSync(fd, size - fragment.length);
    return true;
  } catch {
    return false;
  }
}
