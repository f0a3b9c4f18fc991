/**
 * How busy the worker's event loop has been (event-loop utilisation, 0 to 1), as each of its counts
 * carries it to the arbiter: the scaler grows and shrinks the worker count by it, and ctl and the
 * prometheus plugin show it.
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';

/** The least span a figure covers. Counts asked for just after a heartbeat (ctl, a scrape, an idle
 *  check) would otherwise measure little but the answering of the request itself. */
const MIN_SPAN_MS = 250;

export class LoopUtilisation {
  private mark: EventLoopUtilization = performance.eventLoopUtilization();
  private markedAt = performance.now();
  private last = 0;

  /** Count from now: what came before (loading the app) is not load. */
  restart(): void {
    this.mark = performance.eventLoopUtilization();
    this.markedAt = performance.now();
    this.last = 0;
  }

  /** The utilisation since the previous figure, or that figure again when it was under MIN_SPAN_MS ago. */
  sinceLast(): number {
    if (performance.now() - this.markedAt < MIN_SPAN_MS) return this.last;
    const now = performance.eventLoopUtilization();
    this.last = performance.eventLoopUtilization(now, this.mark).utilization;
    this.mark = now;
    this.markedAt = performance.now();
    return this.last;
  }
}
