/**
 * The worker classes `--worker-class` accepts, each with what it does in a line: data only, so that
 * the settings can name and describe them without loading the worker side. Each name has its
 * implementation in src/worker/classes/ (registry.ts), whose type requires one for every name here.
 */

/** Spelt out, not derived from the table below: a type error in a user's config file names it. */
export type WorkerClass = 'sync' | 'async';

export const WORKER_CLASSES = {
  sync: 'one request at a time, Connection: close',
  async: 'concurrent requests with keep-alive',
} as const satisfies Record<WorkerClass, string>;

/** The names, in the catalogue's order. */
export const WORKER_CLASS_NAMES = Object.keys(WORKER_CLASSES) as WorkerClass[];
