/**
 * Every worker class by its name in the catalogue (config/worker-classes.ts), as Gunicorn's
 * SUPPORTED_WORKERS: the type requires an implementation for each name there, and takes no other.
 */
import type { WorkerClass } from '../../config/worker-classes';
import { AsyncWorker } from './async';
import { SyncWorker } from './sync';
import type { WorkerClassType } from './worker-class';

export const WORKER_CLASS_IMPLEMENTATIONS: { readonly [Name in WorkerClass]: WorkerClassType } = {
  sync: SyncWorker,
  async: AsyncWorker,
};
