import { closeSync, openSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** The error log's form: readable text, or one JSON object per line. */
export type LogFormat = 'text' | 'json';

/** Who is speaking: every line carries it, with the pid; under the emperor, the vassal's name too, so
 *  that many vassals' lines on one stream can be told apart. */
export type Role = ({ role: 'arbiter' } | { role: 'worker'; worker: number } | { role: 'emperor' }) & { vassal?: string };

/** What the error log needs of the settings. */
export interface ErrorLogSettings {
  /** A file, or '-' for the standard stream. */
  errorLogfile: string;
  logLevel: string;
  /** undefined: text when the log goes to a terminal, else JSON. */
  logFormat: LogFormat | undefined;
}

/** A log written to a file by name, which USR1 reopens. */
export interface ReopenableLog {
  /** The file; null or undefined for a standard stream, which is not reopened. */
  readonly file?: string | null;
  reopen(): void;
}

/** A log file or standard stream (pino's SonicBoom): reopened on USR1, flushed at exit. */
type LogStream = DestinationStream &
  ReopenableLog & {
    flushSync(): void;
    once(event: 'ready' | 'drain' | 'error', listener: () => void): void;
    on(event: 'drain', listener: () => void): void;
    on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): void;
    off(event: 'ready' | 'drain' | 'error', listener: (...args: never[]) => void): void;
  };

/** Every log stream this process has opened. */
const streams = new Set<LogStream>();
/** Every log this process writes: the streams, and the access log (worker/access-log-writer.ts). */
const logs = new Set<ReopenableLog>();

/** USR1 reopens `log` with the others (reopenLogs). */
export function reopenedOnUsr1(log: ReopenableLog): void {
  logs.add(log);
}

/**
 * Open `target` for appending, or take the standard stream `stdFd` for '-'. Each line is written
 * before the call returns (the error log: a few lines per lifecycle event, and nothing lost
 * whatever ends the process); what a failing write left is written at exit.
 */
function openLogStream(target: string, stdFd: number): LogStream {
  const stream = (target === '-'
    ? pino.destination({ dest: stdFd, sync: true })
    : pino.destination({ dest: target, sync: true, append: true })) as unknown as LogStream;
  streams.add(stream);
  reopenedOnUsr1(stream);
  return stream;
}

process.on('exit', () => {
  for (const stream of streams) flushAtExit(stream);
});

/** What the exit flush reads of a SonicBoom (sonic-boom 4): its descriptor and what it holds. */
interface Held {
  fd: number;
  _bufs: unknown;
  _writingBuf: unknown;
  _writing: boolean;
  _len: number;
}

/** At exit, how long a write to a full pipe (EAGAIN) is retried before what is left is given up. */
const EXIT_RETRY_MS = 1000;

/**
 * At exit: write what `stream` still holds. SonicBoom's own flushSync retries a write that fails
 * every 100 ms for ever (a full disk, a file on a lost mount), and a process would never exit.
 * Here only a pipe that is full (EAGAIN) is waited for, and not long; any other error gives the
 * rest up. A write under way (`_writing`) is the thread pool's, as for flushSync.
 */
function flushAtExit(stream: LogStream): void {
  const held = stream as unknown as Held;
  if (typeof held.fd !== 'number' || held.fd < 0 || !Array.isArray(held._bufs)) return;
  const chunks = [...(held._writing ? [] : [held._writingBuf]), ...(held._bufs as unknown[])];
  held._bufs = [];
  held._writingBuf = '';
  held._len = 0;
  const deadline = Date.now() + EXIT_RETRY_MS;
  for (const chunk of chunks) {
    let buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.alloc(0);
    while (buffer.length > 0) {
      try {
        buffer = buffer.subarray(writeSync(held.fd, buffer));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'EAGAIN' && code !== 'EBUSY') || Date.now() > deadline) return;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}

/** A failing error log is reported on the standard error stream at most this often. */
const ERROR_REPORT_MS = 60_000;

/**
 * The error log, through pino: to `--error-logfile` (or the standard error stream `stderrFd`), as
 * JSON lines or, on a terminal by default, as text. Writes are synchronous.
 */
export function createLogger(role: Role, settings?: ErrorLogSettings, stderrFd = 2): Logger {
  const target = settings?.errorLogfile ?? '-';
  const stream = openLogStream(target, stderrFd);
  // A write that fails (a full disk) is an 'error' event, which would end the process; the line
  // stays queued and is written with the next one. Where the log is a file, stderr hears of it.
  let reportedAt = -Infinity;
  stream.on('error', (err) => {
    if (target === '-' || performance.now() - reportedAt < ERROR_REPORT_MS) return;
    reportedAt = performance.now();
    try {
      writeSync(stderrFd, `unicorn: cannot write the error log ${target}: ${err.message}; its lines are kept and written once it can be\n`);
    } catch {
      // stderr is gone too.
    }
  });
  const format = settings?.logFormat ?? defaultFormat(target, stderrFd);
  const destination: DestinationStream = format === 'text' ? { write: (line: string) => stream.write(toText(line)) } : stream;
  return pino(loggerOptions(role, process.pid, settings?.logLevel ?? process.env.UNICORN_LOG_LEVEL ?? 'info'), destination);
}

/** A logger writing where `log` does, as another process: a worker's output the arbiter captured. */
export function loggerFor(log: Logger, role: Role, pid: number): Logger {
  const destination = (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  const { vassal } = log.bindings() as { vassal?: string };
  return pino(loggerOptions({ ...role, vassal }, pid, log.level), destination);
}

/** Write `text`, which is not a log line (an app's output), where `log` writes, as it is. */
export function passThrough(log: Logger, text: string): void {
  (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!.write(text);
}

function loggerOptions({ vassal, ...role }: Role, pid: number, level: string): LoggerOptions {
  return {
    level,
    base: { pid, ...role, ...(vassal ? { vassal } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
}

/** Text for people at a terminal, JSON for machines. */
export function defaultFormat(target: string, stderrFd = 2): LogFormat {
  return target === '-' && isatty(stderrFd) ? 'text' : 'json';
}

/** The fields every line has, which the text form shows in its own places. */
const PLACED = new Set(['level', 'time', 'pid', 'role', 'worker', 'vassal', 'msg', 'err']);

/**
 * One JSON line as text, in Gunicorn's shape with the role added:
 * `[2026-11-21 02:20:50.710 +0000] [394] [INFO] [arbiter] Listening at: … address=…` (a vassal's:
 * `[site-a arbiter]`), and an error's stack on the lines after.
 */
export function toText(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.replace('T', ' ').replace('Z', ' +0000') : String(entry.time);
  const role = entry.role === 'worker' ? `worker ${String(entry.worker)}` : String(entry.role);
  const who = typeof entry.vassal === 'string' ? `${entry.vassal} ${role}` : role;
  const level = String(entry.level).toUpperCase();
  const extras = Object.entries(entry)
    .filter(([key, value]) => !PLACED.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const err = entry.err as { stack?: string } | undefined;
  const stack = err?.stack ? `\n  ${err.stack.replace(/\n/g, '\n  ')}` : '';
  return `[${time}] [${String(entry.pid)}] [${level}] [${who}] ${String(entry.msg ?? '')}${extras.length ? ` ${extras.join(' ')}` : ''}${stack}\n`;
}

/**
 * USR1: reopen every log file this process writes, so that logrotate's move-then-signal starts new
 * ones. A line written before the reopen goes to the old file, one after to the new. A file that
 * cannot be opened now (its directory is gone, its permissions changed) is not reopened: lines go
 * on to the file as it was, and the next USR1 tries again. Returns those problems, one per file:
 * `cannot reopen /var/log/app/error.log (ENOENT: no such file or directory)`.
 */
export function reopenLogs(log: Logger): string[] {
  const files: string[] = [];
  const problems: string[] = [];
  for (const reopenable of logs) {
    if (typeof reopenable.file !== 'string') continue;
    const file = reopenable.file;
    // Checked first: SonicBoom's failed reopen leaves a listener that later closes a descriptor
    // it no longer owns.
    const problem = cannotOpen(file);
    if (problem) {
      problems.push(`cannot reopen ${file} (${problem})`);
      log.error({ file }, `Cannot reopen the log file ${file} (${problem}); writing on to the file as it was until a USR1 can reopen it`);
      continue;
    }
    reopenable.reopen();
    files.push(file);
  }
  if (files.length > 0) log.info({ files }, `Reopened log files: ${files.join(', ')}`);
  else if (problems.length === 0) log.info('Reopening log files: none to reopen (logging to the standard streams)');
  return problems;
}

/** Why `file` cannot be opened for appending (`ENOENT: no such file or directory`), if it cannot. */
function cannotOpen(file: string): string | undefined {
  try {
    closeSync(openSync(file, 'a'));
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/, open '.*'$/s, '');
  }
}
