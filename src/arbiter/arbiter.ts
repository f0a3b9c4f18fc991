// About 545 lines: the loop, its events, and the wiring that gives each part (the modules beside this one) what it reads
// of the arbiter's state (the constructor, ActionHost) stay here, where that state is; what each part does is in its module.
import { type WorkerIdentity, workerIdentity } from '../config/accounts';
import { formatDuration, timerMs } from '../config/duration';
import type { ConfigSource } from '../config/file';
import type { Settings } from '../config/settings';
import type { TlsMaterial } from '../config/tls';
import type { ControlRequest } from '../control/protocol';
import { type ControlServer, PendingReplies, type Reply } from '../control/server';
import type { HookRunner } from '../hooks/run';
import type { ArbiterView, ExitReason } from '../hooks/types';
import type { ToArbiter, ToWorker } from '../ipc';
import { ExitCode } from '../shared/exit-codes';
import type { Logger } from '../shared/log';
import { Absences } from './absences';
import { balanceConnections, ConnectionBalance } from './balance';
import { BootAttempts } from './boot-attempts';
import { type Diagnosis, diagnose } from './diagnose';
import { type ElasticEvent, type ElasticWorkers, elasticWorkers } from './elastic/elastic-workers';
import { Forking } from './forking';
import { collectGarbage } from './garbage';
import { HookQueue } from './hook-queue';
import { residentReader } from './memory-watch';
import { type ActionHost, ActionPerformer, type Stop } from './perform';
import { LogFileOwnership } from './privileges';
import { Reaper } from './reaper';
import { Reload } from './reload';
import { type Configuration, type InForce, ReloadRunner, type Reread } from './reload-runner';
import { type ArbiterSignal, deliverSignals } from './signals';
import { failedToBoot, Staffing } from './staffing';
import { ServerSockets, startUp } from './start-up';
import { ExitTally, StatsRequests } from './stats';
import { Succession } from './succession';
import { DIAGNOSE_LIMIT_MS, Supervision, type TimeoutFault } from './supervision';
import { Vassal } from './vassal/vassal';
import { type ArbiterState, arbiterView, currentStats } from './view';
import { WorkerChannels } from './worker-channel';
import { takeWorkerMessage, type WorkerMessageContext } from './worker-messages';
import { setupWorkers, type WorkerRecord, workerStats } from './worker-process';
import { WorkerTable } from './worker-table';

/** What the loop acts on. Signal handlers, cluster events and IPC messages only enqueue these. */
type ArbiterEvent =
  | { kind: 'signal'; signal: ArbiterSignal }
  | { kind: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'message'; id: number; message: ToArbiter }
  | { kind: 'diagnosed'; record: WorkerRecord; silentMs: number; diagnosis: Diagnosis }
  | { kind: 'successor-exit'; pid: number; code: number | null; signal: NodeJS.Signals | null }
  /** The configuration has been read again for a reload: the settings, or why they were refused. */
  | ({ kind: 'reread' } & Reread)
  /** --reload: files of the app changed. */
  | { kind: 'files-changed'; files: string[] }
  /** A hook the loop asked for has finished (or failed, for a hook whose failure stops something):
   *  what follows from it runs in the loop. */
  | { kind: 'hook-done'; then: () => void }
  /** A request from `unicorn ctl`, answered on `reply` when it is done. */
  | { kind: 'control'; request: ControlRequest; reply: Reply }
  /** --idle-timeout: a connection the arbiter accepted, or a listener copy a worker lent. */
  | { kind: 'elastic'; event: ElasticEvent };

/** How long the loop sleeps when nothing is due; events wake it at once. */
const IDLE_TICK_MS = 1000;
/** An absence of the arbiter this long is logged. */
const REPORTED_ABSENCE_MS = 1000;

export interface ArbiterOptions {
  /** Read the configuration again, for HUP; rejects with a UnicornError when it no longer validates. */
  reloadSettings: () => Promise<Configuration>;
  /** The config file's text the starting settings came from. */
  configSource: ConfigSource | undefined;
  /** The certificate and key the starting settings name, as read at start. */
  tls: TlsMaterial | undefined;
  /** The arbiter's lifecycle hooks (the workers load their own). */
  hooks: HookRunner;
  /** Where unicorn was started, before --chdir: a re-executed arbiter starts there too. */
  launchCwd: string;
  /** The supervision clock: monotonic, so that a change of the system time is no worker's silence. */
  now?: () => number;
}

/**
 * The master process: binds the listeners, forks the workers through `node:cluster`, supervises
 * them (heartbeats, recycling, crash backoff), reloads and re-executes on signals, and stops them.
 * Everything that changes its state happens in `run`'s loop, one event at a time; handlers only
 * enqueue.
 */
export class Arbiter {
  private readonly workers = new WorkerTable();
  /** Workers that have exited: how many, by reason, and what they served (stats). */
  private readonly exited = new ExitTally();
  private readonly events: ArbiterEvent[] = [];
  /** The listeners, and --reuse-port's sockets of each worker. */
  private readonly sockets: ServerSockets;
  private target: number;
  /** Where a reload is, and the generation of the configuration in force. */
  private readonly reload = new Reload<InForce>();
  /** The control socket `unicorn ctl` talks to; undefined with --no-control-socket. */
  private control: ControlServer | undefined;
  /** `ctl` replies waiting for the loop to reach a state. */
  private readonly pending = new PendingReplies();
  /** `ctl status` replies waiting for the workers' counts. */
  private readonly statsRequests = new StatsRequests();
  /** Carries out the reload's decisions: reading, onReload, taking or restoring the configuration. */
  private readonly reloads: ReloadRunner;
  /** The worker count nworkersChanged last reported. */
  private announcedTarget: number;
  private readonly startedAt = Date.now();
  /** What hooks see of the arbiter, and what it reads for them and for `ctl status`. */
  private readonly view: ArbiterView;
  private readonly state: ArbiterState;
  private readonly hooks: HookRunner;
  /** The arbiter's hooks, one at a time, in the order the loop asked for them. */
  private readonly hookQueue: HookQueue;
  /** Boots that timed out while no worker has been ready (--boot-attempts). */
  private readonly bootAttempts = new BootAttempts();
  private stop: Stop | undefined;
  /** When the arbiter itself was away (stopped, frozen): that time is no worker's silence. */
  private readonly absences = new Absences();
  private readonly succession: Succession;
  private wake: () => void = () => {};
  private readonly now: () => number;
  /** The config file's text the current settings came from (see Configuration). */
  private configSource: ConfigSource | undefined;
  /** The TLS files as read with the current settings: every worker forked with them gets these. */
  private tls: TlsMaterial | undefined;
  /** --user and --group, as at start: who the workers run as (undefined: as the arbiter). */
  private readonly identity: WorkerIdentity | undefined;
  /** The log files the workers open, made theirs before each fork. */
  private readonly logFiles: LogFileOwnership;
  /** async: the spread of keep-alive connections over the workers, and when to look at it next. */
  private readonly balance = new ConnectionBalance();
  private balanceDueAt = Infinity;
  /** The arbiter's end of the workers' IPC channels, and the connections relayed between them. */
  private readonly channels: WorkerChannels;
  /** Timeouts, recycling, the memory watch and overdue stops. */
  private readonly supervision: Supervision;
  /** How many workers run and which: forks, scale-down, replacing retired ones, the crash backoff. */
  private readonly staffing: Staffing;
  /** Forks each worker Staffing asks for, once preFork has run. */
  private readonly forking: Forking;
  /** What a worker's message changes (worker-messages.ts). */
  private readonly messageContext: WorkerMessageContext;
  /** Kills the workers a killed arbiter leaves stuck (reaper.ts); undefined without one. */
  private reaper: Reaper | undefined;
  /** What signals and `ctl` requests ask for, done in one place (perform.ts). */
  private readonly actions: ActionPerformer;
  /** --idle-timeout: stopping every worker when idle, starting them on the next connection; --workers
   *  MIN:MAX: the target the load sets (elastic/). */
  private readonly elastic: ElasticWorkers;
  /** Under `unicorn emperor`: the link to it (vassal/vassal.ts); undefined otherwise. */
  private readonly vassal: Vassal | undefined;

  constructor(
    private settings: Settings,
    private readonly log: Logger,
    private readonly options: ArbiterOptions,
  ) {
    this.target = settings.workers;
    this.announcedTarget = settings.workers;
    // Whole milliseconds, as Date.now gives: ages and durations are shown as they were.
    this.now = options.now ?? (() => Math.round(performance.now()));
    this.succession = new Succession(settings.pid, log);
    this.sockets = new ServerSockets(this.succession);
    this.hooks = options.hooks;
    this.hookQueue = new HookQueue(this.hooks, {
      moot: () => this.stop !== undefined,
      inLoop: (then) => this.enqueue({ kind: 'hook-done', then }),
    });
    this.configSource = options.configSource;
    this.tls = options.tls;
    // What most parts read of the arbiter; each is given these and what is its own.
    const { workers, bootAttempts, reload, startedAt } = this;
    const current = () => this.settings;
    const target = () => this.target;
    const stopping = () => this.stop !== undefined;
    const generation = () => reload.generation;
    const common = { now: this.now, log, settings: current, workers, target, stopping, generation, bootAttempts };
    const listenerUrls = () => this.listenerUrls();
    this.state = {
      ...common,
      startedAt,
      listenerUrls,
      listeningSockets: () => this.sockets.listeningSockets(),
      exited: this.exited,
      reloading: () => reload.underWay,
      predecessorPid: () => this.succession.predecessorPid,
      controlSocket: () => this.control?.path,
      scaling: () => this.elastic.scaler.stats(),
      idle: () => this.elastic.scaleToZero.status(),
    };
    this.view = arbiterView(this.state, current);
    this.identity = workerIdentity(settings);
    this.logFiles = new LogFileOwnership(this.identity, log);
    this.channels = new WorkerChannels({
      ...common,
      listeners: () => this.sockets.listeners,
      perWorker: () => this.sockets.perWorker,
      sharesListeners: () => this.succession.sharesListeners(),
      onMessage: (id, message) => this.enqueue({ kind: 'message', id, message }),
      onExit: (id, code, signal) => this.enqueue({ kind: 'exit', id, code, signal }),
      lent: (id, index, handle) => this.enqueue({ kind: 'elastic', event: { kind: 'lent', id, index, handle } }),
    });
    this.supervision = new Supervision({
      ...common,
      absences: this.absences,
      processes: {
        kill: (record, signal) => record.handle.process.kill(signal),
        running: ({ handle }) => handle.process.signalCode === null && handle.process.exitCode === null,
        handOver: (record) => this.channels.handOver(record),
      },
      timedOut: (record, fault, silentMs) => this.diagnoseTimedOut(record, fault, silentMs),
      readResident: residentReader(),
    });
    this.staffing = new Staffing({
      ...common,
      reloadStarting: () => reload.starting,
      spawn: () => this.forking.spawn(),
      stopWorker: (record, reason) => this.supervision.stopWorker(record, reason),
      askCounts: (record) => this.channels.send(record, { type: 'unicorn:report', seq: 0 }),
    });
    const { view, staffing, hookQueue, channels, logFiles, supervision, statsRequests, pending } = this;
    const { launchCwd } = options;
    this.forking = new Forking({
      ...common,
      ...{ startedAt, launchCwd, view, listenerUrls, reload, staffing, hookQueue, channels, logFiles },
      configSource: () => this.configSource,
      tls: () => this.tls,
      failReload: (why) => this.reloads.fail(why),
    });
    this.messageContext = { ...common, supervision, statsRequests, channels };
    this.reloads = new ReloadRunner({
      ...common,
      ...{ reload, pending, staffing, read: options.reloadSettings },
      reread: (reread) => this.enqueue({ kind: 'reread', ...reread }),
      filesChanged: (files) => this.enqueue({ kind: 'files-changed', files }),
      inForce: () => ({ settings: this.settings, configSource: this.configSource, tls: this.tls, target: this.target }),
      take: (configuration, count) => {
        ({ settings: this.settings, configSource: this.configSource, tls: this.tls } = configuration);
        if (count !== undefined) this.target = count;
      },
      afterOnReload: (next, then) => hookQueue.after('onReload', [arbiterView(this.state, () => next)], then),
    });
    this.actions = new ActionPerformer(this.actionHost());
    this.vassal = Vassal.start({
      ...{ ...common, relay: channels.relay, stats: () => currentStats(this.state), idle: () => this.elastic.scaleToZero.status().state },
      arrived: (connection) => this.enqueue({ kind: 'elastic', event: { kind: 'arrived', connection } }),
      // The emperor is gone: a graceful stop as on TERM; idle on demand: a stop with exit code 0.
      ...{ emperorGone: () => this.enqueue({ kind: 'signal', signal: 'SIGTERM' }), leave: () => this.beginStop(true, ExitCode.OK) },
    });
    this.elastic = elasticWorkers({
      ...{ ...common, channels, reload, sockets: this.sockets, setTarget: (count) => (this.target = count) },
      emperorAccepts: () => this.vassal?.onDemand === true,
      succeeded: () => this.succession.succeeded,
      ...{ enqueue: (event) => this.enqueue({ kind: 'elastic', event }), announce: (hook) => void hookQueue.queue(hook, [view]) },
    });
  }

  /** The listeners as clients reach them, for the log, `unicorn ctl`, hooks and the workers: https://
   *  where the workers serve TLS (as Gunicorn says it), with the settings in force (a HUP may add
   *  or drop --certfile). */
  private listenerUrls(): string[] {
    return this.sockets.urls(this.settings.certfile !== undefined);
  }

  /** Serve until stopped; resolves with the exit code. Throws if a listener cannot be bound. */
  async run(): Promise<ExitCode> {
    // Those that came while unicorn started (signals.ts) first: the loop acts on them once it runs,
    // a stop before any worker is forked.
    deliverSignals((signal) => this.enqueue({ kind: 'signal', signal }));
    this.control = await startUp({
      settings: this.settings,
      log: this.log,
      hooks: this.hooks,
      view: this.view,
      succession: this.succession,
      sockets: this.sockets,
      identity: this.identity,
      onRequest: (request, reply) => this.enqueue({ kind: 'control', request, reply }),
    });
    setupWorkers();
    this.vassal?.started(this.sockets.listeners);
    this.reaper = Reaper.start(this.log);
    if (this.settings.reload) this.reloads.watch(this.settings, [...this.sockets.files, ...(this.control ? [this.control.path] : [])]);

    for (;;) {
      this.handleEvents();
      this.elastic.scaleToZero.manage();
      this.vassal?.manage();
      this.actions.answerStats();
      this.succession.watchPredecessor();
      this.supervision.watchMemory();
      if (this.stop) {
        this.actions.closeKeptListeners();
        this.supervision.killOverdueStops();
        if (this.workers.size === 0) break;
      } else {
        // Away in the middle of a turn (absences.ts): the heartbeats that came meanwhile are read first.
        if (!this.absences.seen(this.now())) this.supervision.abortSilentWorkers();
        this.supervision.recycleWorkers();
        this.elastic.scaler.consider();
        // After what may change the target (a reload failed by a timeout, the load), before forking for it.
        this.announceTarget();
        this.manageWorkers();
        this.sockets.perWorker?.trim(this.target);
        this.balanceConnections();
        this.supervision.killOverdueStops();
        this.announceReady();
        this.pending.check();
      }
      // The workers as they are now, forked or reaped in this turn.
      this.reaper?.update(this.workers.values(), this.settings.gracefulTimeout);
      await this.sleep(this.msUntilDue());
    }
    // No workers: the reaper has nothing to do, and ends with the arbiter.
    this.reaper?.update([], this.settings.gracefulTimeout);
    this.log.info('Shutting down: Master');
    // onExit follows the hooks asked for before it, unless one of them still runs at the stop's
    // deadline: then it does not wait for them.
    const waitMs = timerMs(Math.max(0, this.stop.deadline - this.now()));
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref());
    await Promise.race([this.hookQueue.drained(), deadline]);
    await this.hooks.run('onExit', this.view);
    this.succession.end();
    return this.stop.exitCode;
  }

  private handleEvents(): void {
    for (let event = this.events.shift(); event; event = this.events.shift()) {
      switch (event.kind) {
        case 'signal':
          this.actions.onSignal(event.signal);
          break;
        case 'exit':
          this.onWorkerExit(event.id, event.code, event.signal);
          break;
        case 'reread':
          this.reloads.start(event);
          break;
        case 'files-changed':
          this.reloads.onFilesChanged(event.files);
          break;
        case 'message': {
          const record = this.workers.get(event.id);
          if (record) takeWorkerMessage(record, event.message, this.messageContext);
          break;
        }
        case 'diagnosed':
          this.abortTimedOut(event.record, event.silentMs, event.diagnosis);
          break;
        case 'successor-exit':
          this.succession.successorExited(event.pid, event.code, event.signal);
          break;
        case 'hook-done':
          event.then();
          break;
        case 'control':
          this.actions.onRequest(event.request, event.reply);
          break;
        case 'elastic':
          this.elastic.scaleToZero.take(event.event);
          break;
      }
    }
  }

  /** A count set by a signal or a request during a reload, or the re-read for one, stands whatever
   *  its outcome. */
  private setTarget(count: number): void {
    this.elastic.scaler.setByHand(this.target, count);
    this.target = count;
    this.reload.targetSet();
  }

  /** Worker `id` has exited: it leaves the table; it is counted, its replacement is decided (Staffing), childExit runs. */
  private onWorkerExit(id: number, code: number | null, signal: NodeJS.Signals | null): void {
    const record = this.workers.get(id);
    if (!record) return;
    this.workers.delete(id);
    this.statsRequests.answered(id);
    // Its own socket (--reuse-port) waits for its replacement; a stop keeps none beyond the first.
    this.sockets.perWorker?.release(id, this.stop ? 1 : this.target);
    const reason: ExitReason = record.stopReason ?? (failedToBoot(record, code) ? 'boot-failed' : 'crash');
    // A new worker of a reload that fails (now, or already: its generation was rolled back) is not
    // replaced: the old ones serve on.
    const failedReload = this.reload.isStarting(record.generation) || this.reload.rolledBack(record.generation);
    const notReplaced = this.stop !== undefined || failedReload || reason === 'scale-down' || reason === 'shutdown';
    this.exited.add(reason, record.requests, !notReplaced, record.accessLogDropped, record.mounts);
    if (!record.everReady && (reason === 'boot-failed' || reason === 'boot-timeout' || reason === 'crash')) {
      // The count a `ctl scale` waits for may never come; it hears why now.
      const why = record.bootError?.message ?? (signal ? `it was killed by signal ${signal}` : `it exited with code ${code}`);
      this.pending.failSettling(`worker ${id} (pid ${record.pid}) failed to boot: ${why}`);
    }
    const outcome = this.staffing.judgeExit(record, code, signal, this.stop !== undefined, this.reload.isStarting(record.generation));
    if (outcome?.kind === 'reload-failed') this.reloads.fail(outcome.why, outcome.detail);
    else if (outcome?.kind === 'unservable' && !this.stop) this.beginStop(true, outcome.exitCode, outcome.why);
    void this.hookQueue.queue('childExit', [this.view, workerStats(record, this.now(), this.settings, { code, signal, reason })]);
  }

  /** Fork workers up to the target, stop those beyond it and retiring ones now replaced (Staffing);
   *  finish a reload once its workers are all ready. */
  private manageWorkers(): void {
    if (this.staffing.manage()) this.reloads.complete();
  }

  // --- Supervision -------------------------------------------------------------------------------

  /** A worker timed out (Supervision.abortSilentWorkers): read what it is stuck on in the background
   *  (the loop goes on), then abort it; a reload whose new worker it is fails. */
  private diagnoseTimedOut(record: WorkerRecord, fault: TimeoutFault, silentMs: number): void {
    void diagnose(record.pid, DIAGNOSE_LIMIT_MS).then((diagnosis) => this.enqueue({ kind: 'diagnosed', record, silentMs, diagnosis }));
    if (this.reload.isStarting(record.generation)) {
      const what = fault === 'boot-timeout' ? 'did not boot within --worker-boot-timeout' : 'went silent past --timeout';
      this.reloads.fail(`worker (pid:${record.pid}) ${what}`);
    }
  }

  /** A timed-out worker's stack has been read: it is aborted (Supervision.abortTimedOut), and a boot
   *  timeout that used up --boot-attempts stops the server. */
  private abortTimedOut(record: WorkerRecord, silentMs: number, diagnosis: Diagnosis): void {
    const giveUp = this.supervision.abortTimedOut(record, silentMs, diagnosis, this.stop !== undefined);
    // Quickly: no worker serves anything yet, and one stuck in its boot would not act on TERM.
    if (giveUp) this.beginStop(false, giveUp.exitCode, giveUp.message);
  }

  /** async with keep-alive: a worker holding clearly more than its share of the connections sheds the excess. */
  private balanceConnections(): void {
    const { balance, settings, workers, log } = this;
    const perWorkerSockets = this.sockets.perWorker?.active ?? false;
    const send = (record: WorkerRecord, message: ToWorker) => this.channels.send(record, message);
    const reloading = this.reload.underWay;
    this.balanceDueAt = balanceConnections({ balance, now: this.now(), settings, workers, perWorkerSockets, reloading, send, log });
  }

  // --- Hooks the loop announces --------------------------------------------------------------------

  /** nworkersChanged, once per change of the target however it came (signal, reload, its failure),
   *  queued before the preFork of any worker forked for it. */
  private announceTarget(): void {
    if (this.target === this.announcedTarget) return;
    const old = this.announcedTarget;
    this.announcedTarget = this.target;
    void this.hookQueue.queue('nworkersChanged', [this.view, this.target, old]);
  }

  /** whenReady, once every worker of the current configuration is ready: after the start, and
   *  after each reload, whether it completed or failed. */
  private announceReady(): void {
    if (!this.reload.whenReadyDue(this.workers.readyOf(this.reload.generation).length, this.target)) return;
    void this.hookQueue.queue('whenReady', [this.view]);
    // What the start or the reload allocated to get here is garbage now.
    collectGarbage();
  }

  // --- Signals and control requests: actions (perform.ts) ----------------------------------------

  /** A stop the arbiter decides itself (its workers cannot start: `why`): begun as a stop signal's is. */
  private beginStop(graceful: boolean, exitCode: ExitCode, why?: string): void {
    if (why) this.vassal?.failed(why);
    this.actions.beginStop(graceful, exitCode);
  }

  /** The arbiter as performing an action needs it (perform.ts). */
  private actionHost(): ActionHost {
    const { log, pending, statsRequests, workers } = this;
    return {
      log,
      pending,
      statsRequests,
      now: this.now,
      gracefulTimeout: () => this.settings.gracefulTimeout,
      stop: () => this.stop,
      setStop: (stop) => {
        this.stop = stop;
        // A re-read still under way is dropped when it ends (ReloadRunner.start): no reload is coming.
        this.reload.abandon();
        this.reloads.stopWatching();
      },
      closeListeners: () => this.sockets.close(),
      workers,
      target: () => this.target,
      workerBounds: () => this.settings.workerBounds,
      setTarget: (count) => this.setTarget(count),
      settled: () => this.settled(),
      send: (record, message) => this.channels.send(record, message),
      holdsConnections: () => this.channels.relay.holding > 0,
      handOver: (record) => void this.channels.handOver(record),
      retire: (record, reason, why) => this.supervision.retire(record, reason, why),
      stopWorker: (record, reason) => this.supervision.stopWorker(record, reason),
      beginReload: () => this.reloads.begin(),
      reloadsBegun: () => this.reload.begun,
      afterPreExec: (then) => this.hookQueue.after('preExec', [this.view], then),
      startSuccessor: () => {
        this.succession.reexec(this.sockets.listeners, this.options.launchCwd, (pid, code, signal) =>
          this.enqueue({ kind: 'successor-exit', pid, code, signal }),
        );
      },
      prepareLogFiles: () => this.logFiles.prepare(this.settings),
      announceStopping: (graceful) => void this.hookQueue.queue('onStopping', [this.view, graceful]),
      stats: () => currentStats(this.state),
    };
  }

  /** Every worker is of the current configuration and ready, as many as the target, and no reload is
   *  under way: what `ctl scale` waits for. Workers being stopped do not count. */
  private settled(): boolean {
    const { generation, underWay } = this.reload;
    return !underWay && this.staffing.forking(generation) === 0 && this.workers.readyOnlyOf(generation) === this.target;
  }

  private msUntilDue(): number {
    const now = this.now();
    let due = Math.min(now + IDLE_TICK_MS, this.supervision.nextDueAt(this.stop !== undefined));
    if (!this.stop) due = Math.min(due, this.staffing.nextReleaseAt());
    due = Math.min(due, this.statsRequests.nextDeadline, this.balanceDueAt, this.elastic.scaleToZero.nextDueAt());
    return Math.max(0, due - now);
  }

  private enqueue(event: ArbiterEvent): void {
    this.events.push(event);
    this.wake();
  }

  /** Until `ms` have passed or an event comes. An arbiter that wakes late has been away (absences.ts):
   *  it lets the messages that queued meanwhile be read before the loop judges any worker. */
  private async sleep(ms: number): Promise<void> {
    if (this.events.length > 0) return;
    const sleptAt = this.now();
    this.absences.seen(sleptAt);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const late = this.absences.woke(sleptAt, sleptAt + ms, this.now());
    if (late === 0) return;
    if (late >= REPORTED_ABSENCE_MS) {
      const why = `The arbiter ran ${formatDuration(late)} late (stopped, frozen or blocked)`;
      this.log.warn({ lateMs: Math.round(late) }, `${why}; that time is not counted against any worker's --timeout`);
    }
    // Timers run before I/O in an event loop turn: one turn later, the IPC channels have been read.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
