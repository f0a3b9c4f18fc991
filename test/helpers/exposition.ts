/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: it throws on anything
 * a Prometheus server would refuse or misread, so that a test that parses a scrape also checks it.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** The families of an exposition, by name, in order. */
export function parseExposition(text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition must end with a line feed');
  const families = new Map<string, Family>();
  /** The family whose samples are being read: a family's samples must be contiguous. */
  let current: Family | undefined;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const fail = (why: string) => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const meta = new RegExp(`^# (HELP|TYPE) (${NAME})(?: (.*))?$`).exec(line);
      if (!meta) return; // any other comment
      const [, keyword, name, rest = ''] = meta as unknown as [string, 'HELP' | 'TYPE', string, string?];
      let family = families.get(name);
      if (family && family !== current) fail(`${keyword} for ${name} after its family ended`);
      if (!family) {
        family = { name, type: 'untyped', samples: [] };
        families.set(name, family);
        current = family;
      }
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`a second HELP for ${name}`);
        family.help = unescapeValue(rest, false, fail);
      } else {
        if (family.type !== 'untyped' || family.samples.length > 0) fail(`TYPE for ${name} after its samples or a TYPE`);
        if (!TYPES.includes(rest)) fail(`unknown type ${JSON.stringify(rest)}`);
        family.type = rest as Family['type'];
      }
      return;
    }
    const sample = parseSample(line, fail);
    const familyName = familyOf(sample.name, families);
    let family = families.get(familyName);
    if (family && family !== current) fail(`a sample of ${familyName} after its family ended`);
    if (!family) {
      family = { name: familyName, type: 'untyped', samples: [] };
      families.set(familyName, family);
      current = family;
    }
    if (family.samples.some((s) => s.name === sample.name && sameLabels(s.labels, sample.labels)))
      fail(`a second sample ${sample.name} with the same labels`);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of the sample `name` with exactly `labels`, or undefined. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    const sample = family.samples.find((s) => s.name === name && sameLabels(s.labels, labels));
    if (sample) return sample.value;
  }
  return undefined;
}

/** A histogram's `_bucket`, `_sum` and `_count` samples belong to its family. */
function familyOf(sampleName: string, families: Map<string, Family>): string {
  const base = /^(.*)_(bucket|sum|count)$/.exec(sampleName)?.[1];
  return base !== undefined && families.get(base)?.type === 'histogram' ? base : sampleName;
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const head = new RegExp(`^(${NAME})`).exec(line);
  if (!head) fail('not a sample');
  const name = head![1]!;
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const label = new RegExp(`^(${LABEL_NAME})="((?:[^"\\\\]|\\\\.)*)"(,?)`).exec(rest);
      if (!label) fail('a malformed label');
      const [whole, labelName, raw, comma] = label!;
      if (labelName! in labels) fail(`label ${labelName} twice`);
      labels[labelName!] = unescapeValue(raw!, true, fail);
      rest = rest.slice(whole.length);
      if (!comma && !rest.startsWith('}')) fail('labels must be separated by commas');
    }
    rest = rest.slice(1);
  }
  const value = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!value) fail('expected one space and a value (and an optional timestamp)');
  return { name, labels, value: parseValue(value![1]!, fail) };
}

function parseValue(text: string, fail: (why: string) => never): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(`${JSON.stringify(text)} is not a number`);
  return Number(text);
}

/** Label values escape backslash, double quote and line feed; HELP text backslash and line feed. */
function unescapeValue(text: string, quotes: boolean, fail: (why: string) => never): string {
  return text.replace(/\\(.)/g, (_, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\' || (quotes && c === '"')) return c;
    return fail(`an unknown escape \\${c}`);
  });
}

/** Buckets by `le` (with the other labels alike) are cumulative, end with +Inf, and +Inf is _count. */
function checkHistogram(family: Family): void {
  const { name } = family;
  const others = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  const series = new Map<string, Sample[]>();
  for (const s of family.samples) {
    if (s.name !== `${name}_bucket`) continue;
    if (s.labels.le === undefined) throw new Error(`${name}_bucket without le`);
    series.set(others(s.labels), [...(series.get(others(s.labels)) ?? []), s]);
  }
  if (series.size === 0) throw new Error(`histogram ${name} has no buckets`);
  for (const [key, buckets] of series) {
    const les = buckets.map((b) =>
      parseValue(b.labels.le!, (why) => {
        throw new Error(why);
      }),
    );
    if (les.some((le, i) => i > 0 && le <= les[i - 1]!)) throw new Error(`${name}: buckets not in increasing order of le`);
    if (les[les.length - 1] !== Infinity) throw new Error(`${name}: no +Inf bucket`);
    if (buckets.some((b, i) => i > 0 && b.value < buckets[i - 1]!.value)) throw new Error(`${name}: buckets are not cumulative`);
    const labels = Object.fromEntries(JSON.parse(key) as Array<[string, string]>);
    const count = family.samples.find((s) => s.name === `${name}_count` && sameLabels(s.labels, labels));
    const sum = family.samples.find((s) => s.name === `${name}_sum` && sameLabels(s.labels, labels));
    if (!count || !sum) throw new Error(`${name}: _count or _sum missing`);
    if (count.value !== buckets[buckets.length - 1]!.value)
      throw new Error(`${name}: _count ${count.value} is not the +Inf bucket ${buckets[buckets.length - 1]!.value}`);
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
