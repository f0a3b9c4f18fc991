/** An emperor's series of its vassals (src/shared/vassal-metrics.ts), read back with a strict parser. */
import { renderVassalMetrics } from '../../src/shared/vassal-metrics';
import type { VassalSummary } from '../../src/shared/vassal-summary';
import { parseExposition, sampleValue } from '../helpers/exposition';

const vassal = (name: string, over: Partial<VassalSummary> = {}): VassalSummary => ({
  name,
  file: `/apps/${name}.config.mjs`,
  state: 'serving',
  onDemand: false,
  pid: 4000,
  workers: 2,
  rss: 1000,
  requests: 12,
  lastRequestAt: 1_767_000_000_500,
  reason: null,
  restarts: 1,
  since: 0,
  ...over,
});

describe("an emperor's vassal series", () => {
  it('give each vassal its state (every state, 1 for the one it is in), workers, memory, requests, last request and restarts', () => {
    const text = renderVassalMetrics([
      vassal('a'),
      vassal('b "2"', { state: 'put-aside', workers: 0, rss: 0, requests: 0, lastRequestAt: null }),
    ]);
    const families = parseExposition(text);
    expect(sampleValue(families, 'unicorn_vassal_state', { vassal: 'a', state: 'serving' })).toBe(1);
    expect(sampleValue(families, 'unicorn_vassal_state', { vassal: 'a', state: 'idle' })).toBe(0);
    expect(sampleValue(families, 'unicorn_vassal_state', { vassal: 'b "2"', state: 'put-aside' })).toBe(1);
    expect(families.get('unicorn_vassal_state')!.samples).toHaveLength(18);
    expect(sampleValue(families, 'unicorn_vassal_workers', { vassal: 'a' })).toBe(2);
    expect(sampleValue(families, 'unicorn_vassal_resident_memory_bytes', { vassal: 'a' })).toBe(1000);
    expect(sampleValue(families, 'unicorn_vassal_requests_total', { vassal: 'a' })).toBe(12);
    expect(sampleValue(families, 'unicorn_vassal_last_request_timestamp_seconds', { vassal: 'a' })).toBe(1_767_000_000.5);
    expect(sampleValue(families, 'unicorn_vassal_last_request_timestamp_seconds', { vassal: 'b "2"' })).toBeUndefined();
    expect(sampleValue(families, 'unicorn_vassal_restarts_total', { vassal: 'a' })).toBe(1);
    expect(families.get('unicorn_vassal_requests_total')!.type).toBe('counter');
    expect(families.get('unicorn_vassal_workers')!.type).toBe('gauge');
  });

  it('are the families alone, with no samples, without vassals', () => {
    const families = parseExposition(renderVassalMetrics([]));
    expect([...families.values()].every((f) => f.samples.length === 0)).toBe(true);
    expect(families.size).toBe(6);
  });
});
