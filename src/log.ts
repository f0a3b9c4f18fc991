import pino, { type Logger } from 'pino';

export type { Logger };

/** Who is speaking: every line carries it, with the pid. */
export type Role = { role: 'arbiter' } | { role: 'worker'; worker: number };

/**
 * The error log: JSON lines on stderr through pino. Writes are synchronous so that nothing logged
 * before an exit is lost; the volume is a few lines per lifecycle event, never per request.
 */
export function createLogger(role: Role, level: string = process.env.UNICORN_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...role },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}
