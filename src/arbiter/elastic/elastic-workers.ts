/**
 * Scale to zero (scale-to-zero.ts) and the adaptive count (scaler.ts) built together from what the
 * arbiter gives them, so that the rule between the two lives here and not in the arbiter's wiring.
 */
import type { Listener } from '../listener';
import { acceptQueue } from './backlog';
import { ScaleToZero, type ScaleToZeroContext } from './scale-to-zero';
import { Scaler, type ScalerContext } from './scaler';

export type { ElasticEvent } from './scale-to-zero';

export type ElasticContext = Omit<ScaleToZeroContext, 'listenerCount'> &
  Omit<ScalerContext, 'backlog' | 'paused'> & {
    /** The arbiter's listening sockets: how many copies to borrow, and whose accept queues to read. */
    sockets: { readonly listeners: readonly Listener[]; listeningSockets(): Listener[] };
  };

export interface ElasticWorkers {
  scaleToZero: ScaleToZero;
  scaler: Scaler;
}

export function elasticWorkers(context: ElasticContext): ElasticWorkers {
  const { sockets, reload, stopping } = context;
  const scaleToZero = new ScaleToZero({ ...context, listenerCount: () => sockets.listeners.length });
  // Idle or waking, a connection sets the count, not the load.
  const paused = () => reload.underWay || stopping() || scaleToZero.status().state !== 'serving';
  const scaler = new Scaler({ ...context, backlog: () => acceptQueue(sockets.listeningSockets()), paused });
  return { scaleToZero, scaler };
}
