/**
 * The spread of keep-alive connections over `async` workers (docs/DESIGN.md, "Keep-alive
 * connections are spread"). Every worker accepts from the same socket, and the first to wake takes
 * whatever is waiting; a keep-alive connection then stays where it landed. After a start, a reload
 * or a recycle one worker can hold nearly every connection while another serves nothing. From the
 * counts the workers send anyway, the arbiter tells a worker holding clearly more than its share to
 * shed the excess (AsyncWorker.shed, worker/classes/async.ts): their clients reconnect, and the others take them.
 *
 * The decisions, with the clock given (ConnectionBalance), and their messages (balanceConnections).
 */
import type { Settings } from '../config/settings';
import type { ToWorker } from '../ipc';
import type { Logger } from '../shared/log';
import type { WorkerRecord } from './worker-process';
import type { WorkerTable } from './worker-table';

/** What the balance reads of one serving worker. */
export interface WorkerLoad {
  readonly id: number;
  /** Its open connections, as of `countsAt`. */
  readonly connections: number;
  /** When the arbiter received that count (a heartbeat or a report). */
  readonly countsAt: number;
}

export interface BalanceStep {
  /** Workers to ask for their counts now (`unicorn:report`). */
  ask: number[];
  /** Workers to tell to keep `keep` connections and close the rest (`unicorn:shed`). */
  shed: { id: number; keep: number }[];
  /** When to step again if no event comes first (Infinity: at the next heartbeat or report). */
  dueAt: number;
}

/** A worker sheds once it holds more than this many times an even share, and more than the even
 *  share rounded up, which is what it keeps. Below that the spread is left alone: a shed costs its
 *  clients a reconnection, and an uneven split within a quarter is not worth one. */
export const TOLERANCE = 1.25;
/** After the serving workers change (one ready, one gone) or a shed, how long until their counts are
 *  asked for: the connections that moved have landed by then (a shed lasts a second at most). */
export const SETTLE_MS = 500;
/** Sheds in a row that leave the spread as uneven (idle connections, which close only after a
 *  response, or clients that come back to the same worker) wait twice as long each time, up to this. */
export const MAX_WAIT_MS = 60_000;

/** Which workers hold too many connections, and how many each keeps: the even share, rounded up. */
export function excessLoads(workers: readonly WorkerLoad[]): { id: number; keep: number }[] {
  const share = workers.reduce((sum, w) => sum + w.connections, 0) / workers.length;
  const keep = Math.ceil(share);
  return workers.filter((w) => w.connections > share * TOLERANCE && w.connections > keep).map((w) => ({ id: w.id, keep }));
}

/**
 * One decision at a time, each on counts taken after the last change: when the serving workers
 * change, or after a shed, the counts are asked for SETTLE_MS later (one message to each worker,
 * not one per request); otherwise each decision waits until every worker has sent a heartbeat since
 * the one before. An even spread costs nothing more than the heartbeats.
 */
export class ConnectionBalance {
  /** The serving workers' ids the last step saw. */
  private members = '';
  /** Counts received before this say nothing of the connections now. */
  private since = -Infinity;
  /** Ask for the counts at `since` (after a change), rather than wait for heartbeats. */
  private eager = false;
  private asked = false;
  /** Sheds in a row, each followed by a spread still uneven. */
  private streak = 0;

  /** `workers`: the serving workers, or undefined while the connections are not to be balanced
   *  (sync workers, a reload or a recycle under way, workers booting or stopping). */
  step(now: number, workers: readonly WorkerLoad[] | undefined): BalanceStep {
    const nothing: BalanceStep = { ask: [], shed: [], dueAt: Infinity };
    if (!workers || workers.length < 2) {
      this.members = '';
      return nothing;
    }
    const members = workers
      .map((w) => w.id)
      .sort((a, b) => a - b)
      .join(',');
    if (members !== this.members) {
      this.members = members;
      this.streak = 0;
      this.wait(now, SETTLE_MS, true);
    }
    if (this.eager && now < this.since) return { ...nothing, dueAt: this.since };
    const stale = workers.filter((w) => w.countsAt < this.since);
    if (stale.length > 0) {
      if (!this.eager || this.asked) return nothing;
      this.asked = true;
      return { ...nothing, ask: stale.map((w) => w.id) };
    }
    const shed = excessLoads(workers);
    if (shed.length === 0) {
      this.streak = 0;
      // Counts received after this look: the next heartbeat of each.
      this.wait(now, 1, false);
      return nothing;
    }
    this.wait(now, Math.min(MAX_WAIT_MS, SETTLE_MS * 2 ** this.streak++), true);
    return { ask: [], shed, dueAt: this.since };
  }

  private wait(now: number, ms: number, eager: boolean): void {
    this.since = now + ms;
    this.eager = eager;
    this.asked = false;
  }
}

export interface BalanceContext {
  balance: ConnectionBalance;
  now: number;
  settings: Pick<Settings, 'workerClass' | 'keepAlive'>;
  workers: WorkerTable;
  /** --reuse-port is in effect: the kernel spreads connections by their addresses. */
  perWorkerSockets: boolean;
  reloading: boolean;
  send: (record: WorkerRecord, message: ToWorker) => void;
  log: Logger;
}

/**
 * async with keep-alive: a worker holding clearly more than its share of the connections is told
 * to shed the excess, while every worker is ready and no reload is under way (the connections of
 * workers booting or stopping are about to move anyway). Not with --reuse-port: there a worker's
 * paused socket would hold the reconnections the kernel hashes to it. Returns when to look again.
 */
export function balanceConnections(context: BalanceContext): number {
  const { workerClass, keepAlive } = context.settings;
  const { workers, send, log } = context;
  // The cheap checks first: this runs every turn of the loop, and most servers never balance.
  const serving = workerClass === 'async' && keepAlive > 0 && !context.perWorkerSockets && !context.reloading ? workers.all() : [];
  const balancing = serving.length > 0 && serving.every((r) => r.state === 'ready');
  const step = context.balance.step(context.now, balancing ? serving : undefined);
  for (const id of step.ask) send(workers.get(id)!, { type: 'unicorn:report', seq: 0 });
  const total = step.shed.length > 0 ? serving.reduce((sum, r) => sum + r.connections, 0) : 0;
  for (const { id, keep } of step.shed) {
    const record = workers.get(id)!;
    const closes = `it closes ${record.connections - keep} after their next responses, for the other workers to take`;
    log.info(
      { workerId: id, workerPid: record.pid, connections: record.connections, keep },
      `Worker (pid:${record.pid}) holds ${record.connections} of ${total} keep-alive connections; ${closes}`,
    );
    send(record, { type: 'unicorn:shed', keep });
  }
  return step.dueAt;
}
