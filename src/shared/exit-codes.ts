/**
 * Exit codes of the arbiter and its workers. A worker's code tells the arbiter what happened to it:
 * 3 and 4 mean "this will not get better by respawning", so the arbiter halts with the same code
 * instead of looping (Gunicorn's WORKER_BOOT_ERROR and APP_LOAD_ERROR).
 */
export const ExitCode = {
  OK: 0,
  /** A runtime failure of the arbiter, such as a listener that cannot be bound. */
  ERROR: 1,
  /** A bad flag, environment variable or value: refused before anything is bound. */
  USAGE: 2,
  /** A worker failed while booting for a reason other than loading the app. */
  WORKER_BOOT_ERROR: 3,
  /** The app could not be loaded: missing module or export, syntax error, not a handler. */
  APP_LOAD_ERROR: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
