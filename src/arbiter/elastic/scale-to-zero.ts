/**
 * Scale to zero (--idle-timeout; docs/elastic.md): after that long without activity (idle.ts) every
 * worker is stopped with the usual hand-over drain, and the arbiter accepts on copies of the
 * listeners a worker lent it (lent-listeners.ts); the first connection starts the workers again
 * and waits in the relay (relay.ts) for the first one ready, which serves it as a fresh connection.
 *
 * serving → (idle for the timeout) confirming: every worker is asked for its counts now, one lends
 * its copies → idle: the copies accept, the target is 0 → (a connection, or a count set by TTIN,
 * `ctl scale` or a reload) waking → (a worker ready) serving: the copies close.
 */
import { formatDuration } from '../../config/duration';
import type { Settings } from '../../config/settings';
import type { IdleState } from '../../hooks/types';
import type { ConnectionHandle, ToWorker } from '../../ipc';
import type { Logger } from '../../shared/log';
import { nWorkers } from '../actions';
import type { WorkerRecord } from '../worker-process';
import type { WorkerTable } from '../worker-table';
import { IdleClock } from './idle';
import { LentListeners, type ListenHandle } from './lent-listeners';

/** How long the workers have to answer with their counts and the lender with its copies; a worker
 *  that does not answer in time is busy (a sync request), and the server is not idle. */
const CONFIRM_LIMIT_MS = 1000;
/** A lending that failed (the lender exited, or had no spare copy just then) is tried again after this. */
const RETRY_MS = 250;

/** What reaches the loop from the copies and from the lender (arbiter.ts turns these into events). */
export type ElasticEvent =
  | { kind: 'arrived'; connection: ConnectionHandle }
  | { kind: 'lent'; id: number; index: number; handle: ListenHandle | undefined };

export interface ScaleToZeroContext {
  now: () => number;
  log: Logger;
  settings: () => Pick<Settings, 'idleTimeout' | 'backlog' | 'workers'>;
  workers: WorkerTable;
  target: () => number;
  /** Set the worker count; not as a count set by hand is, which a reload under way keeps instead of its file's. */
  setTarget: (count: number) => void;
  stopping: () => boolean;
  /** A new arbiter (USR2) runs on the same sockets: it serves, and this one accepts nothing itself. */
  succeeded: () => boolean;
  /** Whether a reload is under way; whenReady to run again once the woken workers are all ready. */
  reload: { readonly underWay: boolean; readyAgain(): void };
  listenerCount: () => number;
  /** The workers' IPC channels, and the relay where connections wait for a worker (relay.ts). */
  channels: {
    relay: { arrived(connection: ConnectionHandle): void; readonly holding: number };
    send(record: WorkerRecord, message: ToWorker): void;
  };
  /** A connection accepted on the copies: to the loop, as an event. */
  enqueue: (event: ElasticEvent) => void;
  /** An on-demand vassal (vassal/vassal.ts): idle, it leaves and the emperor accepts, so no copies are borrowed. */
  emperorAccepts: () => boolean;
  /** Queue the onIdle or onWake hook. */
  announce: (hook: 'onIdle' | 'onWake') => void;
}

type State =
  | { kind: 'serving' }
  /** Idle for the timeout: waiting for every worker's counts (`asked`) and `lender`'s copies; `target`
   *  as it was then (a count set meanwhile, by TTIN or the load, is not to be lost to the idle stop). */
  | { kind: 'confirming'; lender: number; asked: number[]; askedAt: number; target: number }
  | { kind: 'idle' }
  /** `rest`: the count to start once the first worker is ready (0: none more). */
  | { kind: 'waking'; since: number; rest: number };

export class ScaleToZero {
  private state: State = { kind: 'serving' };
  private readonly clock: IdleClock;
  private readonly copies: LentListeners;
  /** After a failed lending: not before this. */
  private retryAt = -Infinity;
  private wakeUps = 0;
  private idleStops = 0;

  constructor(private readonly context: ScaleToZeroContext) {
    this.clock = new IdleClock(context.now());
    this.copies = new LentListeners(context.log);
  }

  /** What `ctl status`, stats and hooks show. */
  status(): { state: IdleState; wakeUps: number; idleStops: number } {
    const { kind } = this.state;
    const state = kind === 'idle' || kind === 'waking' ? kind : 'serving';
    return { state, wakeUps: this.wakeUps, idleStops: this.idleStops };
  }

  /** An event from the copies or the lender, in the loop. */
  take(event: ElasticEvent): void {
    if (event.kind === 'arrived') return this.context.channels.relay.arrived(event.connection);
    const { state } = this;
    if (state.kind === 'confirming' && state.lender === event.id) this.copies.lent(event.index, event.handle);
    else event.handle?.close();
  }

  /** Each turn of the loop, before the workers are managed: what the state calls for. */
  manage(): void {
    const { context } = this;
    const now = context.now();
    if (context.stopping()) {
      // The listeners are closing; later clients are refused, as without --idle-timeout.
      this.copies.close();
      return;
    }
    const active = this.clock.observe(context.workers.values(), now);
    // What this arbiter accepted would be served by its workers, of the code being replaced, or
    // closed unserved if it is stopped before they are ready (the USR2, WINCH, TERM hand-over).
    const succeeded = context.succeeded();
    if (succeeded) this.copies.close();
    switch (this.state.kind) {
      case 'serving':
        return this.watch(now);
      case 'confirming':
        return this.confirm(this.state, active, now);
      case 'idle':
        if (context.target() > 0) {
          // A reload (HUP) starts its workers, which tells at once whether the new code loads.
          return this.wake(
            now,
            context.reload.underWay ? 'a reload starts the workers' : `the worker count was set to ${context.target()}`,
          );
        }
        if (context.channels.relay.holding > 0) return this.wake(now, 'a connection arrived with no worker serving', true);
        // The new arbiter exited: nothing accepts here until workers run again.
        if (!succeeded && !this.copies.listening && !context.emperorAccepts()) return this.wake(now, 'the re-executed arbiter exited');
        return;
      case 'waking':
        if (context.target() === 0) {
          this.state = { kind: 'idle' };
          return;
        }
        if (context.workers.serving().length > 0) this.awake(now, this.state);
        return;
    }
  }

  /** When the loop must look next. */
  nextDueAt(): number {
    const { state } = this;
    if (state.kind === 'confirming') return state.askedAt + CONFIRM_LIMIT_MS;
    if (state.kind !== 'serving' || !this.mayStop()) return Infinity;
    return Math.max(this.clock.idleAt(this.context.settings().idleTimeout), this.retryAt);
  }

  /** --idle-timeout is on and nothing else is going on: a reload, a stop, a new arbiter (USR2), a count
   *  of 0 set by hand (WINCH, which waits for HUP or TTIN), connections waiting for a worker, a worker
   *  booting (the clock starts once the workers serve, however long the app takes to load). */
  private mayStop(): boolean {
    const { context } = this;
    const booting = context.workers.all().some((r) => r.state === 'booting');
    return (
      context.settings().idleTimeout > 0 &&
      !context.reload.underWay &&
      !context.succeeded() &&
      context.target() > 0 &&
      context.channels.relay.holding === 0 &&
      !booting
    );
  }

  /** Serving: once idle for the timeout, confirm it with fresh counts and borrow the copies. */
  private watch(now: number): void {
    const { context } = this;
    if (!this.mayStop()) this.clock.touch(now);
    if (now < this.nextDueAt()) return;
    const answering = context.workers.answering();
    const lender = answering.find((r) => r.state === 'ready');
    if (!lender) {
      this.retryAt = now + RETRY_MS;
      return;
    }
    const borrow = !context.emperorAccepts();
    this.copies.expect(borrow ? context.listenerCount() : 0);
    // seq 0 answers no `ctl status` (StatsRequests numbers its requests from 1); the answer's counts are what is read.
    for (const record of answering) context.channels.send(record, { type: 'unicorn:report', seq: 0 });
    if (borrow) context.channels.send(lender, { type: 'unicorn:lend-listeners' });
    this.state = { kind: 'confirming', lender: lender.id, asked: answering.map((r) => r.id), askedAt: now, target: context.target() };
  }

  /** The counts and the copies are coming: stop the workers once all are in and show no activity. */
  private confirm(state: Extract<State, { kind: 'confirming' }>, active: boolean, now: number): void {
    const { context, copies } = this;
    const lender = context.workers.get(state.lender);
    if (active || !this.mayStop() || context.target() !== state.target) return this.backToServing(now);
    if (lender?.state !== 'ready' || copies.refused) return this.backToServing(now, now + RETRY_MS);
    const counted = (id: number) => (context.workers.get(id)?.countsAt ?? Infinity) >= state.askedAt;
    const emperorAccepts = context.emperorAccepts();
    if ((!emperorAccepts && !copies.complete) || !state.asked.every(counted)) {
      // A worker too busy to answer is not idle.
      if (now >= state.askedAt + CONFIRM_LIMIT_MS) this.backToServing(now);
      return;
    }
    if (!emperorAccepts && !copies.listen(context.settings().backlog, (connection) => context.enqueue({ kind: 'arrived', connection }))) {
      return this.backToServing(now, now + RETRY_MS);
    }
    const workers = context.workers.all().filter((r) => r.state !== 'stopping').length;
    context.log.info(
      { idleStops: ++this.idleStops },
      `Idle for ${formatDuration(context.settings().idleTimeout)}: stopping ${nWorkers(workers)}; the next connection starts them again`,
    );
    context.setTarget(0);
    this.state = { kind: 'idle' };
    context.announce('onIdle');
  }

  /** The server was not idle after all, or the copies could not be had (`retryAt`: try again then). */
  private backToServing(now: number, retryAt?: number): void {
    this.copies.close();
    this.state = { kind: 'serving' };
    if (retryAt === undefined) this.clock.touch(now);
    else this.retryAt = retryAt;
  }

  /**
   * Start the workers again: the copies accept until one is ready. Woken by a connection, one worker
   * starts first and the others once it serves: booting side by side, they share the CPUs and the
   * first is ready later (benchmarks/RESULTS.md, cold start). Woken otherwise, the count starts at once.
   */
  private wake(now: number, why: string, forConnection = false): void {
    const { context } = this;
    let rest = 0;
    if (context.target() === 0) {
      // --workers (MIN with bounds), and at least one: a connection is waiting for it.
      rest = Math.max(1, context.settings().workers);
      context.setTarget(forConnection ? 1 : rest);
    }
    context.reload.readyAgain();
    const then = rest > context.target() ? `, then ${rest - context.target()} more once it serves` : '';
    context.log.info({ wakeUps: ++this.wakeUps }, `Waking: ${why}; starting ${nWorkers(context.target())}${then}`);
    this.state = { kind: 'waking', since: now, rest };
    context.announce('onWake');
  }

  /** A worker is ready: it accepts, so the copies close, the rest of the count starts, and the idle clock starts over. */
  private awake(now: number, { since, rest }: { since: number; rest: number }): void {
    this.copies.close();
    this.state = { kind: 'serving' };
    this.clock.touch(now);
    if (rest > this.context.target()) this.context.setTarget(rest);
    this.context.log.info({ wokeInMs: now - since }, `Awake: a worker was ready ${formatDuration(now - since)} after the wake-up`);
  }
}
