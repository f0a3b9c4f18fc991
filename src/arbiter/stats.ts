/**
 * What the arbiter reports about itself and its workers. `unicorn ctl status` and `stats --json`,
 * and hooks through `arbiter.stats()` (the prometheus plugin), all take it from `serverStats`, so
 * they cannot disagree.
 */
import type { ControlReply } from '../control/protocol';
import type { Reply } from '../control/server';
import type { ExitReason, IdleState, ServerStats, WorkerStats } from '../hooks/types';
import { residentMemory } from '../shared/resident-memory';

/** Every exit reason, from a record so that the compiler refuses it when a reason is added. */
export const EXIT_REASONS = Object.keys({
  crash: 0,
  'boot-failed': 0,
  timeout: 0,
  'boot-timeout': 0,
  'max-requests': 0,
  'max-memory': 0,
  'max-lifetime': 0,
  reload: 0,
  'reload-failed': 0,
  'scale-down': 0,
  shutdown: 0,
  'ctl-kill': 0,
} satisfies Record<ExitReason, 0>) as ExitReason[];

const zeroes = () => new Map<ExitReason, number>(EXIT_REASONS.map((reason) => [reason, 0]));

/** The workers that have exited: how many, by reason, which of them were replaced (restarts), and
 *  what they served. */
export class ExitTally {
  private readonly exited = zeroes();
  private readonly replaced = zeroes();
  /** Requests served by workers that have exited, as of their last heartbeats. */
  requests = 0;
  /** Access-log lines they dropped, as of their last heartbeats. */
  accessLogDropped = 0;
  /** Requests they served by mount, as of their last heartbeats. */
  readonly mounts: Record<string, number> = {};

  /** `replaced`: the arbiter starts another worker in its place (not after a scale-down, at a
   *  shutdown, or for a new worker of a reload that failed, whose old ones serve on). */
  add(reason: ExitReason, requests: number, replaced: boolean, accessLogDropped = 0, mounts: Readonly<Record<string, number>> = {}): void {
    this.exited.set(reason, this.exited.get(reason)! + 1);
    if (replaced) this.replaced.set(reason, this.replaced.get(reason)! + 1);
    this.requests += requests;
    this.accessLogDropped += accessLogDropped;
    addCounts(this.mounts, mounts);
  }

  get exits(): Record<ExitReason, number> {
    return Object.fromEntries(this.exited) as Record<ExitReason, number>;
  }

  get restartsByReason(): Record<ExitReason, number> {
    return Object.fromEntries(this.replaced) as Record<ExitReason, number>;
  }

  get restarts(): number {
    let count = 0;
    for (const n of this.replaced.values()) count += n;
    return count;
  }
}

/** What serverStats needs from the arbiter. */
export interface StatsSource {
  version: string;
  startedAt: number;
  state: ServerStats['state'];
  workerCount: number;
  /** Scale to zero; serving, never idle, when not given. */
  idle?: { state: IdleState; wakeUps: number; idleStops: number };
  generation: number;
  listeners: readonly string[];
  controlSocket: string | undefined;
  /** The live workers, oldest first. */
  workers: WorkerStats[];
  exited: ExitTally;
  /** Connections waiting to be accepted (elastic/backlog.ts); undefined when unknown. */
  backlog?: number;
  /** --workers MIN:MAX (elastic/scaler.ts); none for a fixed count. */
  scaling?: ServerStats['scaling'];
}

export function serverStats(source: StatsSource): ServerStats {
  const { workers, exited } = source;
  return {
    pid: process.pid,
    version: source.version,
    startedAt: source.startedAt,
    uptime: Date.now() - source.startedAt,
    state: source.state,
    workerCount: source.workerCount,
    idleState: source.idle?.state ?? 'serving',
    idleStops: source.idle?.idleStops ?? 0,
    wakeUps: source.idle?.wakeUps ?? 0,
    generation: source.generation,
    listeners: source.listeners,
    controlSocket: source.controlSocket ?? null,
    rss: residentMemory(),
    requests: exited.requests + workers.reduce((sum, w) => sum + w.requests, 0),
    inFlight: workers.reduce((sum, w) => sum + w.inFlight, 0),
    connections: workers.reduce((sum, w) => sum + w.connections, 0),
    elu: meanElu(workers.filter(serving)),
    backlog: source.backlog ?? null,
    spread: spreadOf(workers.filter(serving)),
    accessLogDropped: exited.accessLogDropped + workers.reduce((sum, w) => sum + w.accessLogDropped, 0),
    mounts: workers.reduce((sum, w) => addCounts(sum, w.mounts), addCounts({}, exited.mounts)),
    scaling: source.scaling ?? null,
    exits: exited.exits,
    restarts: exited.restarts,
    restartsByReason: exited.restartsByReason,
    workers,
  };
}

/** The workers that accept connections: a booting one does not yet, a stopping one no more. */
const serving = (w: WorkerStats) => w.state === 'ready' || w.state === 'retiring';

function meanElu(workers: readonly WorkerStats[]): number | null {
  return workers.length > 0 ? workers.reduce((sum, w) => sum + w.elu, 0) / workers.length : null;
}

/** Add `counts` into `into`, name by name. */
function addCounts(into: Record<string, number>, counts: Readonly<Record<string, number>>): Record<string, number> {
  for (const [name, n] of Object.entries(counts)) into[name] = (into[name] ?? 0) + n;
  return into;
}

/** The busiest of the serving workers' share of their requests and of their connections. */
function spreadOf(serving: readonly WorkerStats[]): ServerStats['spread'] {
  const busiestShare = (counts: number[]) => {
    const total = counts.reduce((sum, n) => sum + n, 0);
    return total > 0 ? Math.max(...counts) / total : null;
  };
  return { requests: busiestShare(serving.map((w) => w.requests)), connections: busiestShare(serving.map((w) => w.connections)) };
}

/** How long `ctl status` waits for the workers' counts before it answers with their last
 *  heartbeats' (a worker busy with a request that does not yield cannot answer). */
export const REPORT_TIMEOUT_MS = 1000;

/**
 * `unicorn ctl status` and `stats` answered from what the workers count when asked, not as of their
 * last heartbeats (up to --timeout/2, at most 5 s, old: a request that had ended still in flight).
 * Each live worker is asked over IPC; the reply goes once every one has answered or exited, or when
 * REPORT_TIMEOUT_MS has passed.
 */
export class StatsRequests {
  private lastSeq = 0;
  private waiting: { seq: number; unanswered: Set<number>; deadline: number; reply: Reply }[] = [];

  /** A request to the workers `ids`: its number, for them to answer with. */
  begin(ids: readonly number[], reply: Reply, now: number): number {
    const seq = ++this.lastSeq;
    this.waiting.push({ seq, unanswered: new Set(ids), deadline: now + REPORT_TIMEOUT_MS, reply });
    return seq;
  }

  /** Worker `id` answered request `seq`, which is as fresh as every earlier one needs; without
   *  `seq`, it has exited and answers none. */
  answered(id: number, seq = Infinity): void {
    for (const request of this.waiting) if (request.seq <= seq) request.unanswered.delete(id);
  }

  /** Reply, with `answer()`, to the requests every worker has answered, or whose time is up. */
  settle(now: number, answer: () => ControlReply): void {
    this.waiting = this.waiting.filter((request) => {
      if (request.unanswered.size > 0 && now < request.deadline) return true;
      request.reply.send(answer());
      return false;
    });
  }

  /** When the loop must settle next. */
  get nextDeadline(): number {
    return Math.min(Infinity, ...this.waiting.map((request) => request.deadline));
  }
}
