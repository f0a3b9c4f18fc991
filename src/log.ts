import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Who is speaking: every line carries it, with the pid. */
export type Role = { role: 'arbiter' } | { role: 'worker'; worker: number };

/** A pino destination (SonicBoom) that can reopen its file after logrotate has moved it. */
type Destination = DestinationStream & { file?: string | null; reopen?: () => void };

const destinations = new WeakMap<Logger, Destination>();

/**
 * The error log: JSON lines on stderr through pino. Writes are synchronous so that nothing logged
 * before an exit is lost; the volume is a few lines per lifecycle event, never per request.
 */
export function createLogger(role: Role, level: string = process.env.UNICORN_LOG_LEVEL ?? 'info'): Logger {
  const destination: Destination = pino.destination({ dest: 2, sync: true });
  const log = pino(
    {
      level,
      base: { pid: process.pid, ...role },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  destinations.set(log, destination);
  return log;
}

/**
 * USR1: reopen the log's file, so that logrotate's move-then-signal starts a new one. A log on
 * stderr (the only destination so far) has nothing to reopen; the line says so.
 */
export function reopenLogs(log: Logger): void {
  const destination = destinations.get(log);
  const file = destination?.file;
  if (typeof file === 'string' && destination?.reopen) {
    destination.reopen();
    log.info({ file }, `Reopened log file ${file}`);
  } else {
    log.info('Reopening log files: logging to stderr, nothing to reopen');
  }
}
