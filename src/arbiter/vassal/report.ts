/**
 * What a vassal reports of itself to the emperor (`unicorn:vassal-report`, src/vassal-ipc.ts), from
 * the arbiter's own figures. Decisions only: vassal.ts sends it.
 */
import type { IdleState, ServerStats } from '../../hooks/types';
import type { VassalReport, VassalRunState } from '../../vassal-ipc';

/** The vassal's state from the arbiter's: starting until a worker first serves. */
export function runState(stopping: boolean, idle: IdleState, everServed: boolean): VassalRunState {
  if (stopping) return 'stopping';
  if (idle !== 'serving') return idle;
  return everServed ? 'serving' : 'starting';
}

/** The figures of each report, with the time of the last request, seen as the count of requests
 *  served grows (the workers count them in their heartbeats and reports). */
export class VassalReports {
  private requests = 0;
  private lastRequestAt: number | null = null;

  report(state: VassalRunState, stats: Pick<ServerStats, 'rss' | 'requests' | 'workers'>, now: number): VassalReport {
    if (stats.requests > this.requests) {
      this.requests = stats.requests;
      this.lastRequestAt = now;
    }
    const rss = stats.workers.reduce((sum, worker) => sum + worker.rss, stats.rss);
    return { state, workers: stats.workers.length, rss, requests: stats.requests, lastRequestAt: this.lastRequestAt };
  }
}
