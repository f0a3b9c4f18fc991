/**
 * What `unicorn ctl status` (or `vassals`) and `stats` print for an emperor: its vassals made
 * readable. Pure functions of what the emperor answered, so that a test can read them without one.
 */
import { formatSize } from '../config/size';
import { VASSAL_STATES, type VassalSummary } from '../shared/vassal-summary';
import { formatAge } from './format';
import type { EmperorStats } from './protocol';

export const VASSAL_COLUMNS = ['NAME', 'STATE', 'WORKERS', 'MEM', 'REQUESTS', 'LAST-REQUEST', 'PID'] as const;

/**
 * The vassal table: a header naming the emperor and counting the vassals by state, a row per vassal
 * by name, then the reason of each failed or put aside one (the reason is too long for a column).
 */
export function formatVassals(emperor: EmperorStats, now = Date.now()): string {
  const vassals = [...emperor.vassals].sort((a, b) => a.name.localeCompare(b.name));
  const rows = [[...VASSAL_COLUMNS], ...vassals.map((vassal) => vassalRow(vassal, now))];
  const widths = VASSAL_COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  const reasons = vassals.filter((v) => v.reason !== null && (v.state === 'failed' || v.state === 'put-aside'));
  const workers = vassals.reduce((sum, v) => sum + v.workers, 0);
  const rss = vassals.reduce((sum, v) => sum + v.rss, 0);
  return [
    `unicorn ${emperor.version} emperor (pid ${emperor.pid}), up ${formatAge(emperor.uptime)}: ${describeCounts(vassals)}`,
    `Workers: ${workers}, memory ${formatSize(rss)}`,
    '',
    ...(vassals.length > 0 ? table : ['(no vassals: no config file in the directory)']),
    ...(reasons.length > 0 ? ['', ...reasons.map((v) => `${v.name}: ${v.state}: ${v.reason}`)] : []),
    '',
  ].join('\n');
}

/** `5 vassals: 3 serving, 1 idle, 1 put-aside`, the states in their usual order. */
function describeCounts(vassals: readonly VassalSummary[]): string {
  const counts = VASSAL_STATES.map((state) => [state, vassals.filter((v) => v.state === state).length] as const).filter(([, n]) => n > 0);
  const total = `${vassals.length} vassal${vassals.length === 1 ? '' : 's'}`;
  return counts.length > 0 ? `${total}: ${counts.map(([state, n]) => `${n} ${state}`).join(', ')}` : total;
}

function vassalRow(vassal: VassalSummary, now: number): string[] {
  return [
    vassal.name,
    vassal.state,
    String(vassal.workers),
    vassal.rss > 0 ? formatSize(vassal.rss) : '-',
    String(vassal.requests),
    vassal.lastRequestAt === null ? '-' : `${formatAge(now - vassal.lastRequestAt)} ago`,
    vassal.pid === null ? '-' : String(vassal.pid),
  ];
}

/** `stats` without --json, to an emperor: one `name value` line per total, as for an arbiter. */
export function formatEmperorTotals(emperor: EmperorStats): string {
  const { vassals } = emperor;
  const sum = (value: (v: VassalSummary) => number) => vassals.reduce((total, v) => total + value(v), 0);
  const lines: [string, string | number][] = [
    ['pid', emperor.pid],
    ['version', emperor.version],
    ['uptime_seconds', Math.round(emperor.uptime / 1000)],
    ['vassals', vassals.length],
    ...VASSAL_STATES.map((state): [string, number] => [
      `vassals_${state.replace(/-/g, '_')}`,
      vassals.filter((v) => v.state === state).length,
    ]),
    ['workers', sum((v) => v.workers)],
    ['rss_bytes', sum((v) => v.rss)],
    ['requests', sum((v) => v.requests)],
    ['restarts', sum((v) => v.restarts)],
  ];
  return lines.map(([name, value]) => `${name} ${value}\n`).join('');
}
