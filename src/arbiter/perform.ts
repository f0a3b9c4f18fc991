/**
 * Performing an action (actions.ts), however it came: the one place where a signal and a
 * `unicorn ctl` request take effect, so that both routes do the same, log the same and refuse in
 * the same words. A request's reply is sent once the loop has got where it waits for.
 */
import { formatWorkers, type WorkerBounds, withinBounds } from '../config/worker-count';
import type { ControlRequest } from '../control/protocol';
import type { PendingReplies, Reply } from '../control/server';
import type { ExitReason, ServerStats } from '../hooks/types';
import type { ToWorker } from '../ipc';
import { ExitCode } from '../shared/exit-codes';
import { type Logger, reopenLogs } from '../shared/log';
import { vassalName } from '../vassal-ipc';
import {
  type Action,
  actionOfRequest,
  describeAction,
  doneWhileStopping,
  ignoredSignal,
  nWorkers,
  SIGNAL_ACTIONS,
  scaledCount,
} from './actions';
import type { ArbiterSignal } from './signals';
import type { StatsRequests } from './stats';
import { QUICK_STOP_GRACE_MS } from './supervision';
import { bootsToServeHeld, type WorkerRecord } from './worker-process';
import type { WorkerTable } from './worker-table';

/** A stop under way. */
export interface Stop {
  graceful: boolean;
  /** When still-running workers get SIGKILL. */
  deadline: number;
  exitCode: ExitCode;
}

/** What performing an action needs of the arbiter: its state, and the verbs it keeps. */
export interface ActionHost {
  readonly log: Logger;
  /** `ctl` replies waiting for the loop to reach a state. */
  readonly pending: PendingReplies;
  /** `ctl status` replies waiting for the workers' counts. */
  readonly statsRequests: StatsRequests;
  now(): number;
  /** --graceful-timeout in the settings in force. */
  gracefulTimeout(): number;
  stop(): Stop | undefined;
  /** Take `stop` as the stop under way: no reload follows, and the files are watched no more. */
  setStop(stop: Stop): void;
  /** Close the arbiter's copies of the listeners, unless another arbiter (USR2) serves on them:
   *  says whether one does. */
  closeListeners(): boolean;
  readonly workers: WorkerTable;
  target(): number;
  /** --workers as given: TTIN, TTOU and ctl scale keep the count within MIN:MAX. */
  workerBounds(): WorkerBounds;
  /** Aim for `count` workers; a reload under way keeps that count whatever its outcome. */
  setTarget(count: number): void;
  /** Every worker is of the current configuration and ready, as many as the target. */
  settled(): boolean;
  send(record: WorkerRecord, message: ToWorker): void;
  /** Connections the arbiter holds for a worker (relay.ts): accepted while none served (a wake-up). */
  holdsConnections(): boolean;
  /** Tell a stopping worker to finish what it has while others serve on (or take the sockets). */
  handOver(record: WorkerRecord): void;
  /** Replace a serving worker: it serves until its replacement is ready. */
  retire(record: WorkerRecord, reason: ExitReason, why: string): void;
  /** Stop one worker gracefully while others serve on. */
  stopWorker(record: WorkerRecord, reason: ExitReason): void;
  beginReload(): void;
  /** Reloads begun so far: a reply waits for the outcome of the next one. */
  reloadsBegun(): number;
  /** `then` once the preExec hook has run, with its failure. */
  afterPreExec(then: (err?: Error) => void): void;
  /** Start a new arbiter on the same sockets (succession.ts). */
  startSuccessor(): void;
  /** The log files the workers open, made theirs again (a file logrotate moved away is new). */
  prepareLogFiles(): void;
  /** The onStopping hook. */
  announceStopping(graceful: boolean): void;
  stats(): ServerStats;
}

export class ActionPerformer {
  /** A stop while waking left the listeners open for the worker booting to serve what is held. */
  private listenersKept = false;

  constructor(private readonly host: ActionHost) {}

  /** Close the listeners a stop kept open (beginStop) once no worker boots to serve what the arbiter
   *  held: it is ready, with its own copies, or gone. Each turn of the loop while stopping. */
  closeKeptListeners(): void {
    if (!this.listenersKept || this.host.workers.all().some(bootsToServeHeld)) return;
    this.listenersKept = false;
    this.host.closeListeners();
  }

  onSignal(signal: ArbiterSignal): void {
    this.host.log.info({ signal }, `Handling signal: ${signal.slice(3).toLowerCase()}`);
    const attached = Boolean(process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY);
    const ignored = ignoredSignal(signal, attached);
    if (ignored) this.host.log.info(ignored);
    else this.perform(SIGNAL_ACTIONS[signal]);
  }

  onRequest(request: ControlRequest, reply: Reply): void {
    const action = actionOfRequest(request);
    if (action.kind !== 'stats') this.host.log.info({ request }, `Handling control command: ${describeAction(action)}`);
    this.perform(action, reply);
  }

  /** Do what `action` asks, and answer `reply` (a control request's) once it is done. */
  perform(action: Action, reply?: Reply): void {
    if (this.host.stop() && !doneWhileStopping(action)) {
      return this.refuse(`the server is shutting down; ${describeAction(action)} is not done`, reply);
    }
    switch (action.kind) {
      case 'stop': {
        // A second stop request, by either route, or a quick one, makes the stop quick.
        const current = this.host.stop();
        this.beginStop(action.graceful && !current, current?.exitCode ?? ExitCode.OK);
        const how = this.host.stop()!.graceful ? 'gracefully' : 'quickly';
        return reply?.send({ ok: true, message: `Shutting down ${how} (pid ${process.pid})`, untilExit: true });
      }
      case 'reload':
        // The reload begun now, or the one queued behind a reload under way.
        if (reply) this.host.pending.afterReload(this.host.reloadsBegun() + 1, reply);
        return this.host.beginReload();
      case 'scale':
        return this.scale(action, reply);
      case 'stop-workers':
        this.host.log.info('Stopping all workers gracefully; the arbiter keeps its listeners (HUP or TTIN start workers again)');
        return this.setCount(0);
      case 'reopen-logs':
        return this.reopenLogFiles(reply);
      case 'upgrade':
        return this.upgrade();
      case 'replace':
        return this.replace(action.pid, reply);
      case 'stats':
        return reply && this.askForStats(reply);
    }
  }

  /**
   * Stop the server, or make a graceful stop quick (a quick one stays quick); `exitCode` is the
   * arbiter's. Each worker is told the way the stop has it; onStopping runs as the stop begins.
   */
  beginStop(graceful: boolean, exitCode: ExitCode): void {
    const { host } = this;
    const current = host.stop();
    const timeout = host.gracefulTimeout();
    const limit = graceful ? timeout : Math.min(QUICK_STOP_GRACE_MS, timeout);
    const deadline = Math.min(current?.deadline ?? Infinity, host.now() + limit);
    const stop = { graceful: graceful && (current?.graceful ?? true), deadline, exitCode };
    host.setStop(stop);
    host.pending.failAll('the server is shutting down');
    const workers = host.workers.oldestFirst();
    for (const record of workers) record.killAt = Math.min(record.killAt, deadline);
    if (current && !current.graceful) return;
    if (!current) host.announceStopping(stop.graceful);
    // Connections held while waking wait for a worker still booting: it serves them, then stops
    // (worker-messages.ts). It needs copies of the listeners to get ready: they close after.
    const held = stop.graceful && host.holdsConnections() && workers.some((r) => r.state === 'booting');
    this.listenersKept = held;
    const sharing = !held && host.closeListeners();
    for (const record of workers) {
      const booting = record.state === 'booting';
      if (booting && held) {
        record.state = 'stopping';
        record.stopReason ??= 'shutdown';
        record.servesHeld = true;
        continue;
      }
      record.state = 'stopping';
      record.stopReason ??= 'shutdown';
      if (!stop.graceful) record.handle.process.kill('SIGQUIT');
      // Another arbiter (USR2) serves on the same sockets: its workers serve on, so a graceful stop
      // hands over as a reload does.
      else if (sharing) host.handOver(record);
      // The workers now hold the last copies of the sockets: they take what is queued there and
      // serve it before closing them (docs/DESIGN.md). One still booting serves nothing yet, and
      // one out of reach of a message stops as the signal has it.
      else if (!booting && record.handle.isConnected()) host.send(record, { type: 'unicorn:shutdown' });
      else record.handle.process.kill('SIGTERM');
    }
  }

  /** The status requests whose workers have all answered, or whose time is up. */
  answerStats(): void {
    this.host.statsRequests.settle(this.host.now(), () => ({ ok: true, message: 'stats', stats: this.host.stats() }));
  }

  /** A refusal, in the log and to the request: the same words whichever route asked. */
  private refuse(error: string, reply: Reply | undefined): void {
    this.host.log.info(error);
    reply?.send({ ok: false, error });
  }

  /** TTIN, TTOU, scale, add, remove: answered once the count's workers are ready and no others serve. */
  private scale(action: Extract<Action, { kind: 'scale' }>, reply: Reply | undefined): void {
    const was = this.host.target();
    const scaled = scaledCount(action, was);
    if ('refused' in scaled) return this.refuse(scaled.refused, reply);
    const bounds = this.host.workerBounds();
    const { count, clamped } = withinBounds(scaled.count, bounds);
    const outside = `${scaled.count} is outside --workers ${formatWorkers(bounds)}, so ${count}`;
    if (clamped) this.host.log.info({ workers: count, asked: scaled.count }, `${describeAction(action)}: ${outside}`);
    this.setCount(count);
    const message = `${nWorkers(count)} ready (was ${was})${clamped ? `; ${outside}` : ''}`;
    const answer = () => (this.host.settled() ? { ok: true as const, message } : undefined);
    if (reply) this.host.pending.whenSettled(reply, answer);
  }

  private setCount(count: number): void {
    const was = this.host.target();
    if (count === was) return;
    this.host.log.info({ workers: count, was }, `Number of workers: ${count} (was ${was})`);
    this.host.setTarget(count);
  }

  /** kill: the worker serves until its replacement is ready (as recycling does), then stops
   *  gracefully; answered once it has exited and the count is whole again. */
  private replace(pid: number, reply: Reply | undefined): void {
    const { workers } = this.host;
    const record = workers.withPid(pid);
    if (!record) {
      const pids =
        workers
          .oldestFirst()
          .map((r) => r.pid)
          .join(', ') || 'none';
      const why = pid === process.pid ? `${pid} is the arbiter (use shutdown)` : `no worker of this server has pid ${pid}`;
      return this.refuse(`kill ${pid} is not accepted: ${why}; its workers are ${pids}`, reply);
    }
    if (record.state === 'stopping') return this.refuse(`worker ${record.id} (pid ${pid}) is already stopping`, reply);
    if (record.state === 'ready') this.host.retire(record, 'ctl-kill', 'was asked to stop (unicorn ctl kill)');
    else if (record.state === 'booting') this.host.stopWorker(record, 'ctl-kill');
    if (!reply) return;
    const gone = () => !workers.has(record.id);
    const message = () => `Worker ${record.id} (pid ${pid}) has exited; ${nWorkers(this.host.target())} ready`;
    this.host.pending.whenSettled(reply, () => (gone() && this.host.settled() ? { ok: true, message: message() } : undefined));
  }

  /** USR1: in the arbiter, and over IPC in every worker. A file the arbiter cannot reopen has
   *  been logged (reopenLogs); the request hears of it. */
  private reopenLogFiles(reply: Reply | undefined): void {
    const problems = reopenLogs(this.host.log);
    this.host.prepareLogFiles();
    const { workers } = this.host;
    for (const record of workers.values()) this.host.send(record, { type: 'unicorn:reopen-logs' });
    const told = `told ${nWorkers(workers.size)} to reopen theirs`;
    if (problems.length === 0) return reply?.send({ ok: true, message: `Reopened the arbiter's log files; ${told}` });
    const as = problems.length === 1 ? ' as it was' : 's as they were';
    reply?.send({ ok: false, error: `${problems.join('; ')}: the arbiter writes on to the file${as}; ${told}` });
  }

  /** USR2, once preExec has agreed. Not in a vassal: its successor would have no channel to the
   *  emperor, which would take this one's exit for the vassal's end and start another. */
  private upgrade(): void {
    const vassal = vassalName();
    if (vassal !== undefined) {
      this.host.log.warn(`Not re-executing (USR2): vassal ${vassal} is upgraded by its emperor: HUP, or a touch of its file, reloads it`);
      return;
    }
    this.host.afterPreExec((err) => {
      if (this.host.stop()) return;
      if (err) this.host.log.error({ err }, `Not re-executing: ${err.message}`);
      else this.host.startSuccessor();
    });
  }

  /** status and stats: the workers are asked for their counts as they are now (StatsRequests); a
   *  worker being killed for not answering is not. */
  private askForStats(reply: Reply): void {
    const asked = this.host.workers.answering();
    const seq = this.host.statsRequests.begin(
      asked.map((r) => r.id),
      reply,
      this.host.now(),
    );
    for (const record of asked) this.host.send(record, { type: 'unicorn:report', seq });
    this.answerStats();
  }
}
