/**
 * Every message that crosses the arbiter/worker boundary, in one place, for both sides. Messages go
 * over the IPC channel `node:cluster` sets up; listening sockets travel with `listener` messages as
 * the handle attached to the message.
 */

/** Arbiter → worker. */
export type ToWorker =
  /** Carries one copy of a listening socket (the message's handle), answering `need-listener`. */
  { type: 'unicorn:listener'; index: number; address: string };

/** Worker → arbiter. */
export type ToArbiter =
  /** The app is loaded and the worker accepts on every listener. */
  | { type: 'unicorn:ready' }
  /** The worker wants a copy of listener `index`: two of each at boot, one after each pause. */
  | { type: 'unicorn:need-listener'; index: number };

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
  app: import('./config/app-spec').AppSpec;
  interface: import('./config/settings').HandlerInterface;
  workerClass: import('./config/settings').WorkerClass;
  workerConnections: number;
  keepAlive: number;
  backlog: number;
  /** Addresses of the listeners, by index, for logs. */
  listeners: string[];
}

export const WORKER_BOOT_ENV = 'UNICORN_WORKER_BOOT';
