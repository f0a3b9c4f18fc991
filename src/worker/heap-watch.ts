/**
 * Notice a worker whose JavaScript heap is about to run out, before V8 does: near its limit, V8
 * collects the whole heap again and again, each time for longer (seconds, for a heap of
 * gigabytes), and the worker serves next to nothing for tens of seconds before it dies of it.
 * After each full collection (a PerformanceObserver of 'gc' entries), the old generation still in
 * use is compared with its limit: at NEAR_LIMIT of it, or growing fast enough to pass that by the
 * next full collection (nearLimit says why that matters), the worker is as good as gone.
 *
 * V8 does not tell the old generation's limit: heap_size_limit adds the young generation's (48 MB
 * on Node 22, 192 MB on Node 24), which the old generation never gets. So the limit is the
 * --max-old-space-size the worker runs with (its Node options or NODE_OPTIONS), where one is given;
 * without, heap_size_limit, of which the young generation is a twentieth or less (V8's default
 * limit is some gigabytes).
 */
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const NEAR_LIMIT = 0.9;
/** From this share of the limit on, how fast the heap grows counts too (nearLimit). */
const GROWTH_FLOOR = 0.8;
const MB = 1024 * 1024;

export interface HeapState {
  /** Bytes of the old generation in use after a full collection. */
  used: number;
  /** The old generation's limit, in bytes. */
  limit: number;
}

/** Call `onNearLimit` once, after the full collection that finds the heap about to run out. */
export function watchHeap(onNearLimit: (state: HeapState) => void): void {
  const limit = oldGenerationLimit();
  /** What the previous full collection left in use (0 before the first). */
  let previous = 0;
  const observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some(isFullCollection)) return;
    const used = oldGenerationUsed();
    const grown = previous === 0 ? 0 : used - previous;
    previous = used;
    if (!nearLimit(used, grown, limit)) return;
    observer.disconnect();
    onNearLimit({ used, limit });
  });
  observer.observe({ entryTypes: ['gc'] });
}

/**
 * At NEAR_LIMIT; or, from GROWTH_FLOOR of the limit on, to be past NEAR_LIMIT at the next full
 * collection: grown since the previous one by as much as it lacks of NEAR_LIMIT. A heap that fills
 * fast has its full collections tens of megabytes apart (a fifth of a 128 MB heap), and may skip
 * NEAR_LIMIT; the one that then finds it full is never seen, as V8 collects again and dies in the
 * same turn of the event loop (2 of 40 runs beside four spinning processes; benchmarks/RESULTS.md).
 * Such a heap dies fast anyway, so the growth counts only from GROWTH_FLOOR: an app that fills a
 * cache at start in a few large steps and then holds must not be stopped again and again, and one
 * that holds GROWTH_FLOOR of its limit is near it indeed. A steady app has grown by nothing.
 */
function nearLimit(used: number, grown: number, limit: number): boolean {
  return used >= NEAR_LIMIT * limit || (used >= GROWTH_FLOOR * limit && used + grown >= NEAR_LIMIT * limit);
}

function isFullCollection(entry: PerformanceEntry): boolean {
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}

function oldGenerationUsed(): number {
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) if (!space.space_name.startsWith('new_')) used += space.space_used_size;
  return used;
}

/** The last --max-old-space-size of NODE_OPTIONS and then the command line, as Node reads them. */
function oldGenerationLimit(): number {
  const options = [...(process.env.NODE_OPTIONS ?? '').split(/\s+/), ...process.execArgv];
  let mb: number | undefined;
  for (const [i, option] of options.entries()) {
    const match = /^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/.exec(option);
    if (match) mb = Number(match[1] ?? options[i + 1]) || mb;
  }
  return mb ? mb * MB : v8.getHeapStatistics().heap_size_limit;
}
