import { ExitCode } from './exit-codes';

/**
 * The catalogue of refusals unicorn makes. Each has a stable code (for people searching logs and
 * for tests) and the exit code the process ends with when the refusal is fatal. Messages name what
 * was wrong, the value that was given and what would have been accepted.
 */
export type ErrorCode =
  | 'UNICORN_BAD_VALUE'
  | 'UNICORN_BAD_USAGE'
  | 'UNICORN_BAD_CONFIG'
  | 'UNICORN_BAD_HOOK'
  | 'UNICORN_BAD_TLS'
  | 'UNICORN_HOOK_FAILED'
  | 'UNICORN_BIND_FAILED'
  | 'UNICORN_CONTROL_SOCKET_FAILED'
  | 'UNICORN_PIDFILE_IN_USE'
  | 'UNICORN_PIDFILE_WRITE_FAILED'
  | 'UNICORN_APP_NOT_FOUND'
  | 'UNICORN_APP_EXPORT_NOT_FOUND'
  | 'UNICORN_APP_LOAD_FAILED'
  | 'UNICORN_APP_NOT_A_HANDLER'
  | 'UNICORN_APP_NOT_HTTP2'
  | 'UNICORN_APP_FACTORY_FAILED'
  | 'UNICORN_APP_BOOT_TIMEOUT'
  | 'UNICORN_STATIC_DIR_UNREADABLE'
  | 'UNICORN_NOTIFY_SOCKET_UNSUPPORTED'
  | 'UNICORN_NOTIFY_UNAVAILABLE'
  | 'UNICORN_NOTIFY_FAILED';

export class UnicornError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnicornError';
  }
}

/** Quote a value the way every refusal shows it: as the user typed it. */
export const show = (value: unknown): string => {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
};

/** A setting's value was refused. `source` is where it came from: `--workers`, `WEB_CONCURRENCY`… */
export const badValue = (source: string, value: unknown, accepted: string): UnicornError =>
  new UnicornError('UNICORN_BAD_VALUE', `${source} ${show(value)} is not accepted: expected ${accepted}`, ExitCode.USAGE);

export const badUsage = (message: string): UnicornError => new UnicornError('UNICORN_BAD_USAGE', message, ExitCode.USAGE);

/** The config file cannot be read, or gives something that is not configuration. */
export const badConfig = (message: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_BAD_CONFIG', message, ExitCode.USAGE, { cause });

/** A hook or plugin is refused at load time: unknown name, not a function, module not found. */
export const badHook = (message: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_BAD_HOOK', message, ExitCode.USAGE, { cause });

/** The TLS settings do not go together, or a certificate, key or CA file cannot serve. */
export const badTls = (message: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_BAD_TLS', message, ExitCode.USAGE, { cause });

/** A hook whose failure stops what it was part of (onStarting stops the start) threw or timed out. */
export const hookFailed = (message: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_HOOK_FAILED', message, ExitCode.ERROR, { cause });

export const bindFailed = (address: string, reason: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_BIND_FAILED', `cannot listen at ${address}: ${reason}`, ExitCode.ERROR, {
    cause,
  });

/** --control-socket PATH cannot be listened at: a live server holds it, it is not a socket… */
export const controlSocketFailed = (file: string, reason: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_CONTROL_SOCKET_FAILED', `cannot listen at the control socket ${file}: ${reason}`, ExitCode.ERROR, { cause });

/** Every app-load refusal starts by naming the app as the user wrote it. */
export const appError = (code: Extract<ErrorCode, `UNICORN_APP_${string}`>, app: string, reason: string, cause?: unknown): UnicornError =>
  new UnicornError(code, `cannot load the app ${show(app)}: ${reason}`, ExitCode.APP_LOAD_ERROR, {
    cause,
  });

/** No worker of the app ever became ready: --boot-attempts boots in a row timed out. */
export const bootTimedOut = (app: string | undefined, which: string, reason: string): UnicornError =>
  new UnicornError(
    'UNICORN_APP_BOOT_TIMEOUT',
    `${app === undefined ? 'the workers' : `the app ${show(app)}`} (${which}) did not boot: ${reason}`,
    ExitCode.WORKER_BOOT_ERROR,
  );

/** A --static directory cannot be read by the worker: it fails the boot as an app that cannot load. */
export const staticDirError = (dir: string, prefix: string, reason: string, cause?: unknown): UnicornError =>
  new UnicornError(
    'UNICORN_STATIC_DIR_UNREADABLE',
    `cannot serve the static directory ${show(dir)} at ${prefix}: ${reason}`,
    ExitCode.APP_LOAD_ERROR,
    {
      cause,
    },
  );
