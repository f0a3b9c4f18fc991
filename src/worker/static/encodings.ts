/**
 * Which precompressed sibling of a static file a request takes (`app.js.br`, `app.js.gz`), from
 * its Accept-Encoding: by q-value, br before gzip when both are as welcome.
 */

export type Coding = 'br' | 'gzip';

/** The file name's ending for each coding, in the order preferred at equal q. */
export const SIBLINGS: ReadonlyArray<{ coding: Coding; ending: string }> = [
  { coding: 'br', ending: '.br' },
  { coding: 'gzip', ending: '.gz' },
];

const Q = /^q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/i;

/** The codings of SIBLINGS that `accept` takes (q above 0), best first. */
export function acceptedCodings(accept: string | undefined): Coding[] {
  if (!accept) return [];
  const q: Partial<Record<Coding | '*', number>> = {};
  for (const item of accept.split(',')) {
    const [rawName, ...params] = item.split(';');
    const name = rawName!.trim().toLowerCase();
    const coding = name === 'x-gzip' ? 'gzip' : name;
    if (coding !== 'br' && coding !== 'gzip' && coding !== '*') continue;
    let weight = 1;
    for (const param of params) {
      const match = Q.exec(param.trim());
      // A q that is not a q-value makes the whole item unreadable: it is passed over.
      if (/^q=/i.test(param.trim())) weight = match ? Number(match[1]) : Number.NaN;
    }
    if (!Number.isNaN(weight)) q[coding] = Math.max(q[coding] ?? 0, weight);
  }
  const weightOf = (coding: Coding): number => q[coding] ?? q['*'] ?? 0;
  return SIBLINGS.map((s) => s.coding)
    .filter((coding) => weightOf(coding) > 0)
    .sort((a, b) => weightOf(b) - weightOf(a));
}
