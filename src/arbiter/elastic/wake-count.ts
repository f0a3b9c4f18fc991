/** How many workers a wake-up starts (elastic/scale-to-zero.ts). */
import type { Settings } from '../../config/settings';

/** --workers, and at least one: a connection is waiting for it. */
export function wakeCount(settings: Pick<Settings, 'workers'>): number {
  return Math.max(1, settings.workers);
}
