/**
 * An emperor's series of its vassals, in the Prometheus text format: what the emperor serves at its
 * own /metrics (hooks/prometheus.md, "An emperor's vassals"). A vassal's requests in detail are its
 * own plugin's, labelled `vassal="NAME"`; these are what the emperor knows of each, one scrape for all.
 */
import { family, type Sample } from './prometheus-exposition';
import { VASSAL_STATES, type VassalSummary } from './vassal-summary';

/** The exposition of `vassals` as they are now. */
export function renderVassalMetrics(vassals: readonly VassalSummary[]): string {
  const each = (value: (v: VassalSummary) => number | null): Sample[] =>
    vassals.flatMap((v) => {
      const figure = value(v);
      return figure === null ? [] : [{ labels: { vassal: v.name }, value: figure }];
    });
  return [
    family(
      'unicorn_vassal_state',
      'gauge',
      `1 for the state each vassal is in (${VASSAL_STATES.join(', ')}), 0 for the others.`,
      vassals.flatMap((v) => VASSAL_STATES.map((state) => ({ labels: { vassal: v.name, state }, value: v.state === state ? 1 : 0 }))),
    ),
    family(
      'unicorn_vassal_workers',
      'gauge',
      'Worker processes each vassal runs, as of its latest report.',
      each((v) => v.workers),
    ),
    family(
      'unicorn_vassal_resident_memory_bytes',
      'gauge',
      "Resident memory of each vassal's arbiter and workers together, as of its latest report.",
      each((v) => v.rss),
    ),
    family(
      'unicorn_vassal_requests_total',
      'counter',
      'Requests each vassal has served since its arbiter started (it starts again from 0 with each start of the vassal).',
      each((v) => v.requests),
    ),
    family(
      'unicorn_vassal_last_request_timestamp_seconds',
      'gauge',
      'When each vassal last served a request, in seconds since the epoch; absent for one that has served none.',
      each((v) => (v.lastRequestAt === null ? null : v.lastRequestAt / 1000)),
    ),
    family(
      'unicorn_vassal_restarts_total',
      'counter',
      'Times the emperor has started each vassal again after it exited.',
      each((v) => v.restarts),
    ),
  ].join('');
}
