/**
 * Every message that crosses the arbiter/worker boundary, in one place, for both sides. Messages go
 * over the IPC channel `node:cluster` sets up; listening sockets travel with `listener` messages as
 * the handle attached to the message, and connections a sync worker hands back with `hand-back` and
 * `connection` messages, as bare handles (nothing read).
 */

/** A connected socket's handle (a libuv TCP or Pipe wrap) as the IPC channel carries it, with
 *  `hand-back` and `connection` messages: bare, nothing read from it. */
export interface ConnectionHandle {
  close(): void;
}

/** Arbiter → worker. */
export type ToWorker =
  /** Carries one copy of a listening socket (the message's handle), answering `need-listener`. */
  | { type: 'unicorn:listener'; index: number; address: string }
  /** The arbiter got USR1: reopen log files (logrotate has moved them). */
  | { type: 'unicorn:reopen-logs' }
  /** Stop gracefully while other workers serve on: finish in-flight requests, close each
   *  keep-alive connection after its next response. (SIGTERM stops as for a shutdown.)
   *  `lastOnSocket`: the worker's own sockets (--reuse-port) are no other's now, and the arbiter
   *  has let go of them: accept what is queued on them before closing them. */
  | { type: 'unicorn:hand-over'; lastOnSocket: boolean }
  /** A graceful stop of the whole server (TERM, `ctl shutdown`) with no other arbiter on the
   *  sockets: the arbiter has closed its copies of the listening sockets. Stop as on SIGTERM, but
   *  accept what is queued on them first and serve it: closing the last copies resets it. */
  | { type: 'unicorn:shutdown' }
  /** Sent once, at fork, with --certfile: the certificate and key of the worker's configuration. */
  | { type: 'unicorn:tls'; material: import('./config/tls').TlsMaterial }
  /** `unicorn ctl status` asks: send the counts as they are now (`report`), numbered `seq`; the
   *  arbiter's balancing asks with `seq` 0, answering no ctl request. */
  | { type: 'unicorn:report'; seq: number }
  /** async: the worker holds more than its share of the keep-alive connections; close those over
   *  `keep` after their next responses, not accepting meanwhile (arbiter/balance.ts). */
  | { type: 'unicorn:shed'; keep: number }
  /** Serve this connection (the message's handle, a ConnectionHandle), which a sync worker accepted
   *  and handed back unread. sync: the answer to `free` when the arbiter holds one; async: passed
   *  unasked (it takes connections as they come, up to --worker-connections). */
  | { type: 'unicorn:connection' }
  /** sync: the arbiter has begun holding connections handed back: a worker asks (`free`) once free. */
  | { type: 'unicorn:holding' }
  /** sync: the answer to `free` when the arbiter holds no connection for the worker. */
  | { type: 'unicorn:no-connection' }
  /** --idle-timeout: send back a copy of every listener (`lent-listener`), for the arbiter to accept
   *  on while no worker runs (arbiter/elastic/). */
  | { type: 'unicorn:lend-listeners' };

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
  /** Booting, the worker starts `step`: what it was waiting on if it is not ready in time. */
  | { type: 'unicorn:boot-step'; step: BootStep }
  /** The worker passed --max-worker-memory, or its heap is about to run out (`heap`), and has begun
   *  to stop on its own (worker/heap-watch.ts; the arbiter watches --max-worker-memory itself,
   *  arbiter/memory-watch.ts): replace it now. */
  | { type: 'unicorn:over-memory'; rss: number; heap?: { used: number; limit: number } }
  /** The worker has served its --max-requests: replace it (it serves on until told to stop). */
  | { type: 'unicorn:retire'; requests: number }
  /** sync: a connection the worker accepted and will not start soon (busy, or stopping), as the
   *  message's handle, unread: the arbiter passes it to a free sync worker. */
  | { type: 'unicorn:hand-back' }
  /** sync: the worker, which handed back, was passed a connection or was told `holding` since it
   *  last said so, is free (`stopping`: it has served its last connection and exits on
   *  `no-connection`). It takes no connection of its own until the answer: `connection` or
   *  `no-connection`. */
  | { type: 'unicorn:free'; stopping: boolean }
  /** The answer to `report`: a heartbeat's counts, now. Not a heartbeat: a sync worker that answers
   *  while a request runs past --timeout is still to be killed for it. */
  | ({ type: 'unicorn:report'; seq: number } & WorkerCounts)
  /** The answer to `lend-listeners`, one per listener: a spare copy of listener `index` as the
   *  message's handle (the worker keeps its own), or no handle when it has no spare just now. */
  | { type: 'unicorn:lent-listener'; index: number };

/** What a worker counts, as a heartbeat and a report carry it. */
export interface WorkerCounts {
  /** Requests served since it started. */
  requests: number;
  inFlight: number;
  /** Event-loop utilisation (0 to 1) since its previous counts: the share of the time its loop was busy. */
  elu: number;
  /** Open connections (keep-alive ones included). */
  connections: number;
  /** Resident memory, in bytes. */
  rss: number;
  /** Access-log lines dropped since it started: the log could not take them. */
  accessLogDropped: number;
  /** Requests served since it started, by the mount that served them (worker/site.ts). */
  mounts: Record<string, number>;
}

/**
 * The steps of a worker's boot, in order. Sent as each begins, so that the arbiter knows where a
 * worker is even when its event loop is stuck there, and whichever way the stack can be read.
 */
export type BootStep =
  /** Loading the config file and the hook modules (their top-level code). */
  | { step: 'hooks' }
  | { step: 'postFork' }
  /** Importing the app's module (its top-level code, and every module it imports). */
  | { step: 'import'; file: string }
  /** Calling the app's factory, `createApp()` as the user wrote it, and awaiting what it returns. */
  | { step: 'factory'; file: string; name: string }
  /** Making the export a handler: only Fastify's `ready()` waits here. */
  | { step: 'handler' }
  | { step: 'postWorkerInit' }
  /** With --certfile: waiting for the certificate the arbiter sends at fork. */
  | { step: 'tls' }
  /** Taking copies of the listening sockets from the arbiter; ready once it listens on them all. */
  | { step: 'listen' };

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
 * Whether a worker's stderr is a pipe to the arbiter (then its own log goes to CAPTURED_STDERR_FD):
 * with --capture-output, and whenever the error log is JSON on the arbiter's stderr, which the
 * worker would otherwise share. Node's inspector writes to a worker's stderr when the arbiter reads
 * its stack, and those lines are not JSON: the arbiter keeps them out of the log.
 */
export function pipesStderr(settings: Pick<import('./config/settings').Settings, 'captureOutput' | 'errorLogfile' | 'logFormat'>): boolean {
  return settings.captureOutput || (settings.errorLogfile === '-' && settings.logFormat === 'json');
}

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
