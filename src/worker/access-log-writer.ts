/**
 * Where a worker's access-log lines go: a file, a pipe or the standard output, which every worker
 * writes at once. One write at a time, off the event loop, in whole lines.
 *
 * Bounded: while the log cannot take them (a full disk, a pipe nobody reads), lines wait in memory
 * up to PENDING_LIMIT; beyond it new lines are dropped and counted (`unicorn ctl stats`), and the
 * error log says so when dropping begins, once a minute while it lasts, when the log is written
 * again and, for what is still waiting, when the worker exits.
 *
 * Never torn: a write to a file cut short inside a line (a full disk, a file at its size limit)
 * is undone back to the last whole line, which another worker's line would otherwise follow; the
 * rest waits and is written whole. Pipes are written without blocking (a blocked write would hold
 * a thread that a stopping worker waits for), in chunks of at most PIPE_BUF, which POSIX writes
 * whole.
 */
import { closeSync, write, writeSync } from 'node:fs';
import { formatSize } from '../config/size';
import type { Logger } from '../shared/log';
import { type Opened, openForAppend, ownPipeEnd, shapeOf, undoTail } from './log-descriptor';

/** The most bytes of lines a worker keeps in memory for a log that cannot take them: a few seconds
 *  of a busy worker's lines, enough to ride out a slow disk or a reader's pause. */
export const PENDING_LIMIT = 4 * 1024 * 1024;
/** The longest a line waits in memory on a quiet server. */
const FLUSH_MS = 250;
/** After a write fails, the next try; a full pipe is tried again sooner. */
const RETRY_MS = 1000;
const FULL_PIPE_RETRY_MS = 100;
/** While the log cannot be written, or lines are dropped, the error log hears of it this often. */
const REMIND_MS = 60_000;
/** At exit, how long a full pipe is waited for (the event loop has ended: the thread sleeps). */
const EXIT_RETRY_MS = 1000;
const NEWLINE = 0x0a;
/** A write cut short inside a line says no more: the next one would fail with ENOSPC or EFBIG. */
const CUT_SHORT = Object.assign(new Error('writes are cut short: the disk is full, or the file at its size limit'), {
  code: 'SHORT_WRITE',
});

/** Lines waiting: gathered as a string, a Buffer once a write has taken it. */
interface Chunk {
  data: string | Buffer;
  bytes: number;
}

/** Why a write failed. */
interface Failure {
  code: string;
  reason: string;
  /** A pipe that does not take more now (EAGAIN), which is waited for. */
  fullPipe: boolean;
}

/** A stretch of time in which lines were dropped. */
interface Dropping {
  count: number;
  since: number;
  reason: string;
  remindedAt: number;
}

export class AccessLogWriter {
  /** Lines dropped since the worker started, at exit those left unwritten too. */
  dropped = 0;
  private readonly pending: Chunk[] = [];
  private pendingBytes = 0;
  /** A write is under way (in the thread pool), of `pending[0]`. */
  private writing = false;
  private writeStartedAt = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Why the last write failed; undefined once one succeeds. */
  private failure: Failure | undefined;
  private failureReportedAt = -Infinity;
  private dropping: Dropping | undefined;
  /** A stopping worker writes each chunk as soon as the one before it is done. */
  private flushing = false;
  private onIdle: (() => void) | undefined;
  /** What USR1 opened, used once the write under way is done. */
  private reopened: Opened | undefined;
  private closed = false;
  private fd: number;
  private maxWrite: number;
  /** A file read back to undo a torn write; not the standard output, nor a file it cannot read. */
  private canUndo: boolean;
  /** The last write was cut short inside a line, and that line's start cut off again (`took`). */
  private undone = false;

  private constructor(
    opened: Opened,
    /** The file's name, for USR1 (log.ts); null for the standard output. */
    readonly file: string | null,
    private readonly log: Logger,
  ) {
    this.fd = opened.fd;
    [this.maxWrite, this.canUndo] = shapeOf(opened);
    process.on('exit', () => this.close());
  }

  /** Open `target` ('-' is the standard output, `stdoutFd`); a failure names it. */
  static open(target: string, stdoutFd: number, log: Logger): AccessLogWriter {
    if (target === '-') return new AccessLogWriter({ fd: ownPipeEnd(stdoutFd), readable: false }, null, log);
    try {
      return new AccessLogWriter(openForAppend(target), target, log);
    } catch (err) {
      throw new Error(`cannot open the access log ${target}: ${(err as Error).message}`, { cause: err });
    }
  }

  private get name(): string {
    return this.file ?? 'the standard output';
  }

  add(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.closed || this.pendingBytes + bytes > PENDING_LIMIT) return this.drop();
    const last = this.pending.at(-1);
    if (last && typeof last.data === 'string' && last.bytes + bytes <= this.maxWrite) {
      last.data += line;
      last.bytes += bytes;
    } else {
      this.pending.push({ data: line, bytes });
    }
    this.pendingBytes += bytes;
    // A chunk is full: written now (or after the write under way); else within FLUSH_MS.
    if (this.pending.length > 1) this.writeNext();
    else this.flushTimer ??= setTimeout(this.writeNext, FLUSH_MS).unref();
  }

  /** USR1: lines go to the file opened now once the write under way is done (log.ts checked that
   *  it can be opened). */
  reopen(): void {
    if (this.file === null || this.closed) return;
    try {
      if (this.reopened !== undefined) closeSync(this.reopened.fd);
      this.reopened = openForAppend(this.file);
    } catch (err) {
      this.reopened = undefined;
      this.log.error(
        { err, file: this.file },
        `Cannot reopen the access log ${this.file}: ${message(err)}; its lines go on to the file as it was until a USR1 reopens it`,
      );
      return;
    }
    this.swapFile();
  }

  /** Before the worker exits: every line written, or given up after `timeoutMs`, or as soon as
   *  writing fails (a full disk; a full pipe is given the time). */
  flush(timeoutMs: number): Promise<void> {
    this.flushing = true;
    this.writeNext();
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onIdle?.(), timeoutMs);
      this.onIdle = () => {
        clearTimeout(timer);
        this.onIdle = undefined;
        resolve();
      };
    });
  }

  /**
   * The worker exits: what waits is written now, synchronously, if the log takes it; the rest is
   * counted as dropped and said, with what was dropped and not yet said. A write under way is the
   * thread pool's, which ends before the process does, unseen here: its lines count as unwritten.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.retryTimer);
    const deadline = Date.now() + (this.failure ? 0 : EXIT_RETRY_MS);
    for (const chunk of this.pending.slice(this.writing ? 1 : 0)) if (!this.writeSyncWhole(chunk, deadline)) break;
    // Counted once, here: what a write took is whole lines, or a line's start it finishes later.
    const unwritten = this.pending.reduce((sum, chunk) => sum + countLines(chunk.data), 0);
    const unsaid = this.dropping?.count ?? 0;
    this.dropped += unwritten;
    if (unwritten + unsaid === 0) return;
    const reason = this.dropping?.reason ?? this.failure?.reason ?? 'a write under way did not finish';
    const since = this.dropping ? ` since ${new Date(this.dropping.since).toISOString()}` : '';
    const what =
      unwritten > 0
        ? `${accessLogLines(unwritten)} not written to ${this.name} (${reason})${unsaid > 0 ? `, and ${unsaid} dropped${since}` : ''}`
        : `${accessLogLines(unsaid)} dropped${since} while ${this.name} could not take them (${reason})`;
    this.log.error(
      { file: this.file, accessLogDropped: unwritten + unsaid },
      `Worker exiting with ${what}; ${this.dropped} dropped in all`,
    );
  }

  private readonly writeNext = (): void => {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.writing || this.retryTimer || this.closed) return;
    const chunk = this.pending[0];
    if (!chunk) return;
    if (typeof chunk.data === 'string') chunk.data = Buffer.from(chunk.data);
    const buffer = chunk.data;
    this.writing = true;
    this.writeStartedAt = performance.now();
    write(this.fd, buffer, 0, buffer.length, null, (err, n) => this.written(chunk, err, n));
  };

  private written(chunk: Chunk, err: NodeJS.ErrnoException | null, n: number): void {
    // Closed meanwhile (a stop that waited long enough): its lines are counted as unwritten.
    if (this.closed) return;
    this.writing = false;
    const done = !err && this.took(chunk, n);
    if (err) this.failed(err);
    else if (done) this.succeeded();
    // Cut short inside a line and undone: the next write would be cut short the same way.
    else if (this.undone || n === 0) this.failed(CUT_SHORT);
    this.swapFile();
    // Cut short otherwise, the rest goes at once: the next write says why (ENOSPC, EFBIG), or
    // finishes a line on a pipe before another worker's can follow its start.
    const rest = !err && !done;
    if (!this.retryTimer && (rest || this.pending.length > 1 || (this.flushing && this.pending.length > 0))) this.writeNext();
    else if (this.pending.length > 0) this.flushTimer ??= setTimeout(this.writeNext, FLUSH_MS).unref();
    if (this.idle()) this.onIdle?.();
  }

  /**
   * `n` bytes of `chunk` were written: take them off it, and say whether it is done. A write cut
   * short inside a line (a file at its size limit, a full disk) leaves the line's start in the
   * file, where another worker's next line would follow it: it is cut off again, if the file still
   * ends with it (`undone`), and the line is written whole later. One that cannot be undone is
   * finished as soon as the file takes it.
   */
  private took(chunk: Chunk, n: number): boolean {
    const buffer = chunk.data as Buffer;
    let kept = n;
    this.undone = false;
    if (n < buffer.length) {
      const whole = n > 0 ? buffer.lastIndexOf(NEWLINE, n - 1) + 1 : 0;
      this.undone = whole < n && this.canUndo && undoTail(this.fd, buffer.subarray(whole, n));
      if (this.undone) kept = whole;
    }
    chunk.data = buffer.subarray(kept);
    chunk.bytes -= kept;
    this.pendingBytes -= kept;
    if (chunk.bytes > 0) return false;
    this.pending.splice(this.pending.indexOf(chunk), 1);
    return true;
  }

  /** A write succeeded. Dropping ends once what waited is half written, so that a log taking lines
   *  just as fast as they come makes one stretch of drops, not one a chunk. */
  private succeeded(): void {
    this.failure = undefined;
    if (!this.dropping || this.pendingBytes > PENDING_LIMIT / 2) return;
    const { count, since, reason } = this.dropping;
    this.dropping = undefined;
    this.log.error(
      { file: this.file, accessLogDropped: count },
      `${accessLogLines(count)} dropped while ${this.name} could not take them (${reason}), for ${seconds(Date.now() - since)}; writing again`,
    );
  }

  private failed(err: NodeJS.ErrnoException): void {
    const { code, reason, fullPipe } = failureOf(err);
    // A full pipe is how a pipe says wait: it is said if lines are dropped.
    if (!fullPipe && (this.failure?.code !== code || performance.now() - this.failureReportedAt >= REMIND_MS)) {
      this.failureReportedAt = performance.now();
      this.log.error(
        { err, file: this.file },
        `Cannot write the access log ${this.name}: ${reason}; its lines wait in memory, up to ${formatSize(PENDING_LIMIT)}, and later ones are dropped and counted until it can be written`,
      );
    }
    this.failure = { code, reason, fullPipe };
    if (this.dropping) this.dropping.reason = reason;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.writeNext();
      },
      fullPipe ? FULL_PIPE_RETRY_MS : RETRY_MS,
    ).unref();
  }

  private drop(): void {
    this.dropped++;
    const now = performance.now();
    if (this.dropping) {
      this.dropping.count++;
      if (now - this.dropping.remindedAt < REMIND_MS) return;
      this.dropping.remindedAt = now;
      const { count, since, reason } = this.dropping;
      this.log.error(
        { file: this.file, droppedSoFar: count },
        `${accessLogLines(count)} dropped in ${seconds(Date.now() - since)} so far: ${this.name} cannot take them (${reason})`,
      );
      return;
    }
    const waited = now - this.writeStartedAt;
    const reason = this.closed
      ? 'the worker is exiting'
      : (this.failure?.reason ??
        (this.writing && waited >= RETRY_MS ? `a write has not finished for ${seconds(waited)}` : 'lines come faster than it takes them'));
    this.dropping = { count: 1, since: Date.now(), reason, remindedAt: now };
    this.log.error(
      { file: this.file },
      `Dropping access-log lines: ${formatSize(PENDING_LIMIT)} of them wait to be written to ${this.name} (${reason}); each one dropped is counted (unicorn ctl stats)`,
    );
  }

  /** Go on with the file USR1 opened, once no write to the old one is under way. */
  private swapFile(): void {
    if (this.reopened === undefined || this.writing) return;
    closeSync(this.fd);
    this.fd = this.reopened.fd;
    [this.maxWrite, this.canUndo] = shapeOf(this.reopened);
    this.reopened = undefined;
    // A new file may take what the old one refused: try it now.
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.writeNext();
  }

  private idle(): boolean {
    return !this.writing && (this.pending.length === 0 || (this.failure !== undefined && !this.failure.fullPipe));
  }

  /** At exit: write `chunk` whole, as `took` does; a full pipe is waited for until `deadline`. */
  private writeSyncWhole(chunk: Chunk, deadline: number): boolean {
    if (typeof chunk.data === 'string') chunk.data = Buffer.from(chunk.data);
    for (;;) {
      try {
        const n = writeSync(this.fd, chunk.data as Buffer);
        if (this.took(chunk, n)) return true;
        if (this.undone || n === 0) {
          this.failure ??= { code: CUT_SHORT.code, reason: CUT_SHORT.message, fullPipe: false };
          return false;
        }
      } catch (err) {
        const failure = failureOf(err as NodeJS.ErrnoException);
        if (!failure.fullPipe || Date.now() > deadline) {
          this.failure ??= failure;
          return false;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}

/** Lines that end in `data`: a line whose start was written counts where its end is. */
function countLines(data: string | Buffer): number {
  const buffer = typeof data === 'string' ? Buffer.from(data) : data;
  let count = 0;
  for (let i = buffer.indexOf(NEWLINE); i !== -1; i = buffer.indexOf(NEWLINE, i + 1)) count++;
  return count;
}

function failureOf(err: NodeJS.ErrnoException): Failure {
  const code = err.code ?? 'EIO';
  const fullPipe = code === 'EAGAIN' || code === 'EWOULDBLOCK';
  return { code, reason: fullPipe ? 'the pipe is full: its reader does not keep up' : message(err), fullPipe };
}

/** `ENOSPC: no space left on device`, without Node's `, write` (or `, open '…'`). */
function message(err: unknown): string {
  return (err as Error).message.replace(/, (write|open '.*')$/s, '');
}

/** `1 access-log line`, `2 access-log lines`. */
function accessLogLines(count: number): string {
  return `${count} access-log line${count === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
