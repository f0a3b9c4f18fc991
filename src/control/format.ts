/**
 * What `unicorn ctl status` and `stats` print: the arbiter's stats made readable. Pure functions of
 * the stats, so that a test can read them without a server.
 */
import { formatSize } from '../config/size';
import type { ExitReason, ServerStats, WorkerStats } from '../hooks/types';

export const STATUS_COLUMNS = [
  'PID',
  'WORKER',
  'AGE',
  'STATE',
  'REQUESTS',
  'IN-FLIGHT',
  'BUSY',
  'CONNECTIONS',
  'MEMORY',
  'RESTARTS',
  'LAST HEARTBEAT',
] as const;

/** `850ms`, `12s`, `5m07s`, `3h02m`, `2d04h`: two units at most, for a column. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/** `reload 2, crash 1`: the reasons that occurred, most frequent first; `none` when none did. */
export function describeExits(exits: Readonly<Record<ExitReason, number>>): string {
  const occurred = Object.entries(exits)
    .filter(([, n]) => n > 0)
    .sort(([, a], [, b]) => b - a);
  return occurred.map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none';
}

/**
 * The status table: a header naming the server, one row for the arbiter (its pid, uptime, state,
 * the requests of every worker it has run, its own memory, and the restarts, counted here because
 * worker ids are never reused), one per live worker, and the exits by reason.
 */
export function formatStatus(stats: ServerStats): string {
  const arbiter = [
    String(stats.pid),
    'arbiter',
    formatAge(stats.uptime),
    shownState(stats),
    String(stats.requests),
    String(stats.inFlight),
    stats.elu === null ? '-' : formatBusy(stats.elu),
    String(stats.connections),
    formatSize(stats.rss),
    String(stats.restarts),
    '-',
  ];
  const rows = [[...STATUS_COLUMNS], arbiter, ...stats.workers.map(workerRow)];
  const widths = STATUS_COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  const ready = stats.workers.filter((w) => w.state === 'ready').length;
  return [
    `unicorn ${stats.version}: ${shownState(stats)}, ${ready} of ${stats.workerCount} workers ready (generation ${stats.generation})`,
    `Listening at: ${stats.listeners.join(', ') || '(none yet)'}`,
    ...(stats.backlog === null ? [] : [`Waiting to be accepted: ${stats.backlog}`]),
    ...describeScaling(stats),
    '',
    ...table,
    '',
    ...describeSpread(stats),
    ...describeMounts(stats),
    ...describeIdle(stats),
    `Restarts: ${stats.restarts} (${describeExits(stats.restartsByReason)})`,
    `Exits: ${Object.values(stats.exits).reduce((a, b) => a + b, 0)} (${describeExits(stats.exits)})`,
    '',
  ].join('\n');
}

/** `Scaling: workers 3 (1:4, by load); last change 12s ago: 2 → 3, busy 0.93 for 10s`, with --workers MIN:MAX. */
function describeScaling(stats: ServerStats): string[] {
  const { scaling } = stats;
  if (!scaling) return [];
  const { last } = scaling;
  const change = last ? `last change ${formatAge(last.age)} ago: ${last.from} → ${last.to}, ${last.reason}` : 'no change yet';
  return [`Scaling: workers ${stats.workerCount} (${scaling.min}:${scaling.max}, by load); ${change}`];
}

/** The server's state, with scale to zero's (`idle`, `waking`) where it is only serving otherwise. */
const shownState = (stats: ServerStats): string => (stats.state === 'serving' ? stats.idleState : stats.state);

/** `Idle stops: 3, wake-ups: 2`, once the server has gone idle (--idle-timeout). */
function describeIdle(stats: ServerStats): string[] {
  if (stats.idleStops === 0 && stats.idleState === 'serving') return [];
  return [`Idle stops: ${stats.idleStops}, wake-ups: ${stats.wakeUps}`];
}

/** `Spread over 2 workers: the busiest has 52% of the requests and 50% of the open connections`, with two
 *  or more workers serving. */
function describeSpread(stats: ServerStats): string[] {
  const serving = stats.workers.filter((w) => w.state === 'ready' || w.state === 'retiring').length;
  if (serving < 2) return [];
  const percent = (share: number) => `${Math.round(share * 100)}%`;
  const { requests, connections } = stats.spread;
  const shares = [
    requests !== null && `${percent(requests)} of the requests`,
    connections !== null && `${percent(connections)} of the open connections`,
  ].filter(Boolean);
  if (shares.length === 0) return [];
  return [`Spread over ${serving} workers: the busiest has ${shares.join(' and ')}`];
}

/** `Requests by mount: static:/assets 300, / 120, /api 40`, busiest first, when more is served than one app at /. */
function describeMounts(stats: ServerStats): string[] {
  const names = Object.keys(stats.mounts);
  if (names.length === 0 || (names.length === 1 && names[0] === '/')) return [];
  const busiest = names.sort((a, b) => stats.mounts[b]! - stats.mounts[a]!);
  return [`Requests by mount: ${busiest.map((name) => `${name} ${stats.mounts[name]}`).join(', ')}`];
}

/** Event-loop utilisation, `0.43`: the share of the time the worker's loop was busy. */
const formatBusy = (elu: number) => elu.toFixed(2);

function workerRow(worker: WorkerStats): string[] {
  // Before a worker is ready its heartbeat age is only the time since its fork.
  const beat = worker.state === 'booting' ? '-' : `${formatAge(worker.heartbeatAge)} ago`;
  return [
    String(worker.pid),
    String(worker.id),
    formatAge(worker.age),
    worker.state,
    String(worker.requests),
    String(worker.inFlight),
    worker.state === 'booting' ? '-' : formatBusy(worker.elu),
    String(worker.connections),
    worker.rss > 0 ? formatSize(worker.rss) : '-',
    '-',
    beat,
  ];
}

/** `stats` without --json: one `name value` line per total, for a shell script or a glance. */
export function formatTotals(stats: ServerStats): string {
  const count = (state: string) => stats.workers.filter((w) => w.state === state).length;
  const lines: [string, string | number][] = [
    ['pid', stats.pid],
    ['version', stats.version],
    ['state', shownState(stats)],
    ['uptime_seconds', Math.round(stats.uptime / 1000)],
    ['generation', stats.generation],
    ['workers_target', stats.workerCount],
    ...(stats.scaling ? scalingTotals(stats.scaling) : []),
    ['workers_booting', count('booting')],
    ['workers_ready', count('ready')],
    ['workers_retiring', count('retiring')],
    ['workers_stopping', count('stopping')],
    ['requests', stats.requests],
    ['in_flight', stats.inFlight],
    ['connections', stats.connections],
    // The busiest serving worker's share (0 to 1); 0 when there is nothing to share.
    ['busiest_worker_requests_share', round(stats.spread.requests ?? 0)],
    ['busiest_worker_connections_share', round(stats.spread.connections ?? 0)],
    // The serving workers' mean event-loop utilisation (0 to 1); 0 with none serving.
    ['event_loop_utilization', round(stats.elu ?? 0)],
    ...(stats.backlog === null ? [] : [['backlog', stats.backlog] as [string, number]]),
    ['access_log_dropped', stats.accessLogDropped],
    ['arbiter_rss_bytes', stats.rss],
    ['idle_stops', stats.idleStops],
    ['wake_ups', stats.wakeUps],
    ['restarts', stats.restarts],
    ...byReason('restarts', stats.restartsByReason),
    ...byReason('exits', stats.exits),
  ];
  return lines.map(([name, value]) => `${name} ${value}\n`).join('');
}

/** --workers MIN:MAX: the bounds, and the load's changes by direction. */
const scalingTotals = ({ min, max, changes }: NonNullable<ServerStats['scaling']>): [string, number][] => [
  ['workers_min', min],
  ['workers_max', max],
  ['scaling_up', changes.up],
  ['scaling_down', changes.down],
];

const round = (share: number) => Math.round(share * 1000) / 1000;

/** `exits_scale_down 1`: names a shell can use. */
const byReason = (prefix: string, counts: Readonly<Record<string, number>>): [string, number][] =>
  Object.entries(counts).map(([reason, n]) => [`${prefix}_${reason.replace(/-/g, '_')}`, n]);
