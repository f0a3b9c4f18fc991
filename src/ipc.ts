/**
 * Every message that crosses the arbiter/worker boundary, in one place, for both sides. Messages go
 * over the IPC channel `node:cluster` sets up; listening sockets travel with `listener` messages as
 * the handle attached to the message.
 */

/** Arbiter → worker. */
export type ToWorker =
  /** Carries one copy of a listening socket (the message's handle), answering `need-listener`. */
  | { type: 'unicorn:listener'; index: number; address: string }
  /** The arbiter got USR1: reopen log files (logrotate has moved them). */
  | { type: 'unicorn:reopen-logs' }
  /** Stop gracefully while other workers serve on: finish in-flight requests, close each
   *  keep-alive connection after its next response. (SIGTERM stops as for a shutdown.) */
  | { type: 'unicorn:hand-over' }
  /** Sent once, at fork, with --certfile: the certificate and key of the worker's configuration. */
  | { type: 'unicorn:tls'; material: import('./config/tls').TlsMaterial }
  /** `unicorn ctl status` asks: send the counts as they are now (`report`), numbered `seq`. */
  | { type: 'unicorn:report'; seq: number };

/** Worker → arbiter. */
export type ToArbiter =
  /** The app is loaded and the worker accepts on every listener. */
  | { type: 'unicorn:ready' }
  /** The worker wants a copy of listener `index`: two of each at boot, one after each pause. */
  | { type: 'unicorn:need-listener'; index: number }
  /** Sent from a timer, so it stops when the event loop is stuck; a sync worker skips it while a
   *  request is in flight. Carries what the arbiter supervises. */
  | ({ type: 'unicorn:heartbeat'; published?: Record<string, unknown> } & WorkerCounts)
  /** The worker cannot boot, and why (the app does not load, a hook failed): it exits next. */
  | { type: 'unicorn:boot-failed'; message: string; code?: string }
  /** The worker has served its --max-requests: replace it (it serves on until told to stop). */
  | { type: 'unicorn:retire'; requests: number }
  /** The answer to `report`: a heartbeat's counts, now. Not a heartbeat: a sync worker that answers
   *  while a request runs past --timeout is still to be killed for it. */
  | ({ type: 'unicorn:report'; seq: number } & WorkerCounts);

/** What a worker counts, as a heartbeat and a report carry it. */
export interface WorkerCounts {
  /** Requests served since it started. */
  requests: number;
  inFlight: number;
  /** Resident memory, in bytes. */
  rss: number;
}

export type Message = ToWorker | ToArbiter;

export function isMessage(value: unknown): value is Message {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('unicorn:')
  );
}

/** What the arbiter tells a worker at fork time, through its environment. */
export interface WorkerBoot {
  workerId: number;
  /** The configuration generation it belongs to (bumped by each reload). */
  generation: number;
  settings: import('./config/settings').Settings;
  /** When the arbiter started (epoch milliseconds), for hooks. */
  arbiterStartedAt: number;
  /** Where unicorn was started: the config file's messages name it relative to this. */
  launchCwd: string;
  /** The config file's text as the arbiter read it: the worker imports this, not the file on disk. */
  configSource: import('./config/file').ConfigSource | undefined;
  /** Milliseconds between heartbeats. */
  heartbeatMs: number;
  /** Requests after which the worker asks to be replaced (jitter applied); 0 for never. */
  maxRequests: number;
  /** Addresses of the listeners, by index, for logs. */
  listeners: string[];
}

export const WORKER_BOOT_ENV = 'UNICORN_WORKER_BOOT';

/** With --capture-output, a worker's stdout and stderr are pipes to the arbiter, and these file
 *  descriptors are the arbiter's own stderr and stdout, for the worker's error and access logs. */
export const CAPTURED_STDERR_FD = 4;
export const CAPTURED_STDOUT_FD = 5;

/**
 * Where a worker publishes a function describing its state, for the arbiter to call through the
 * inspector when the worker times out (arbiter/diagnose.ts). A registered symbol's name, so the two
 * sides name it without sharing a module instance.
 */
export const SELF_REPORT_KEY = 'unicorn.selfReport';

/** What that function returns. */
export interface SelfReport {
  /** The requests in flight, as the worker server describes them. */
  inFlight: string[];
}
