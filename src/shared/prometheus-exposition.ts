/**
 * The Prometheus text exposition format, version 0.0.4: what a scrape of /metrics gets, from the
 * prometheus plugin (hooks/prometheus) and from an emperor (vassal-metrics.ts).
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 *
 * A metric family is its `# HELP` and `# TYPE` lines followed by all of its samples, one per line:
 * `name{label="value",…} value`. Families are written whole, so a name never appears twice.
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family's name: a histogram's `_bucket`, `_sum` and `_count`. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

/** One metric family, as text; `common` labels (a vassal's name) go on every sample, first. */
export function family(name: string, type: MetricType, help: string, samples: readonly Sample[], common: Labels = {}): string {
  let text = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  for (const sample of samples)
    text += `${name}${sample.suffix ?? ''}${formatLabels({ ...common, ...sample.labels })} ${formatValue(sample.value)}\n`;
  return text;
}

/**
 * A histogram's samples from its per-bucket counts (not cumulative): `counts[i]` observations fell
 * in bucket `i`, that is at most `bounds[i]` and above the bound before; the last count is for
 * `+Inf`. Written cumulative, as the format wants, and `_count` is the `+Inf` bucket.
 */
export function histogramSamples(bounds: readonly number[], counts: readonly number[], sum: number, labels: Labels = {}): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i] ?? 0;
    samples.push({ suffix: '_bucket', labels: { ...labels, le: formatValue(bounds[i] ?? Infinity) }, value: cumulative });
  }
  samples.push({ suffix: '_sum', labels, value: sum }, { suffix: '_count', labels, value: cumulative });
  return samples;
}

/** Go's float syntax, which Prometheus parses: JavaScript's, but for the infinities. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value); // NaN is NaN in both
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** In a label value: backslash, double quote and line feed are escaped. */
export const escapeLabelValue = (value: string): string => value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

/** In HELP text: backslash and line feed are escaped. */
const escapeHelp = (help: string): string => help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
