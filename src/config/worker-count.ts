/**
 * What `--workers` (and WEB_CONCURRENCY) asks for: a fixed count (`4`), the CPUs this process may
 * use (`auto`), or bounds that the count follows the load within (`1:4`, docs/elastic.md).
 */
import type { Refusal } from './settings/spec';
import { usableCpus } from './usable-cpus';

/** The count the arbiter keeps between `min` and `max`: both the same for a fixed count; `by` says
 *  how it was given (`cpus`: auto) and whether the load moves it (`load`). */
export interface WorkerBounds {
  readonly min: number;
  readonly max: number;
  readonly by: 'count' | 'cpus' | 'load';
}

export const WORKERS_FORMS =
  'a whole number of at least 1, MIN:MAX for a count that follows the load (whole numbers, MAX at least 1 and at least MIN; ' +
  'MIN 0 only with --idle-timeout), or auto (the CPUs this process may use)';

export function parseWorkers(raw: string, cpus: () => number = usableCpus): WorkerBounds | Refusal {
  const value = raw.trim();
  if (value.toLowerCase() === 'auto') {
    const count = cpus();
    return { min: count, max: count, by: 'cpus' };
  }
  if (/^\d+$/.test(value)) {
    const count = Number(value);
    return count >= 1 ? { min: count, max: count, by: 'count' } : { refused: '' };
  }
  const range = /^(\d+):(\d+)$/.exec(value);
  if (!range) return { refused: '' };
  const [min, max] = [Number(range[1]), Number(range[2])];
  if (max < 1) return { refused: 'MAX is 0' };
  if (max < min) return { refused: `MAX ${max} is below MIN ${min}` };
  return { min, max, by: 'load' };
}

/** The count the arbiter starts with: the fixed count, or the bounds' minimum (at least one: with
 *  MIN 0 the workers stop only once idle, --idle-timeout). */
export const startingCount = (bounds: WorkerBounds): number => Math.max(1, bounds.min);

/** As --print-config shows it: `4`, `1:4`, `auto (2)`. */
export function formatWorkers(bounds: WorkerBounds): string {
  if (bounds.by === 'load') return `${bounds.min}:${bounds.max}`;
  return bounds.by === 'cpus' ? `auto (${bounds.min})` : String(bounds.min);
}

/** `count` within the bounds the load moves it in, and whether it had to be moved there; a fixed
 *  count (N, auto) leaves any count as it is (TTIN and TTOU change it as they always have). */
export function withinBounds(count: number, bounds: WorkerBounds): { count: number; clamped: boolean } {
  if (bounds.by !== 'load') return { count, clamped: false };
  const within = Math.min(bounds.max, Math.max(startingCount(bounds), count));
  return { count: within, clamped: within !== count };
}
