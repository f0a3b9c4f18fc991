/**
 * The emperor's view of one vassal: its file, the unicorn process running it (a child with an IPC
 * channel, src/vassal-ipc.ts), what it last reported, and the bookkeeping of its failures. It
 * starts, signals and stops the process; whether and when to start it again is the emperor's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from '../shared/log';
import { type FromVassal, VASSAL_FDS_VARIABLE, type VassalReport } from '../vassal-ipc';
import type { HeldSockets } from './held-sockets';
import { FAILED_STARTS_BEFORE_PUT_ASIDE, restartDelay, SERVED_FOR_MS } from './restart-backoff';
import type { VassalState, VassalSummary } from './types';
import { UNICORN_BIN, type VassalSettings, vassalEnv } from './vassal-settings';

/** How a vassal's process ended, as the emperor acts on it. */
export type VassalEnd =
  | { kind: 'stopped' }
  /** On-demand, idle: it said it was leaving, and exited 0. Its next connection starts it again. */
  | { kind: 'left' }
  | { kind: 'failed'; reason: string; restartInMs: number }
  | { kind: 'put-aside'; reason: string };

/** A vassal asked to stop that has not exited after its own graceful timeout and this margin is killed. */
const STOP_MARGIN_MS = 10_000;

export class Vassal {
  state: VassalState = 'stopped';
  settings: VassalSettings | undefined;
  holder: HeldSockets | undefined;
  reason: string | null = null;
  restarts = 0;
  since = Date.now();
  /** When a start is waiting for its backoff or for room under the host limit. */
  pendingStart: NodeJS.Timeout | undefined;
  private child: ChildProcess | undefined;
  private report: VassalReport | undefined;
  private previousRss = 0;
  private startedAt = 0;
  /** When this run first reported serving. */
  private servedAt: number | undefined;
  /** Starts in a row that ended before serving, and failures in a row (the backoff's doubling). */
  private failedStarts = 0;
  private streak = 0;
  private failedReason: string | undefined;
  private leaving = false;
  private stopRequested = false;
  private exitWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly file: string,
    private readonly dir: string,
    readonly log: Logger,
    private readonly onEnd: (vassal: Vassal, end: VassalEnd) => void,
  ) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Start the process (its settings were read and accepted just before). */
  spawn(): void {
    const fds = this.holder?.fds ?? [];
    const env = vassalEnv(this.name);
    if (this.holder) env[VASSAL_FDS_VARIABLE] = String(fds.length);
    this.previousRss = this.report?.rss ?? this.previousRss;
    this.report = undefined;
    this.servedAt = undefined;
    this.failedReason = undefined;
    this.leaving = false;
    this.stopRequested = false;
    this.startedAt = Date.now();
    this.setState('starting');
    const child = spawn(process.execPath, [UNICORN_BIN, '-c', this.file], {
      cwd: this.dir,
      env,
      stdio: ['ignore', 'inherit', 'inherit', ...fds, 'ipc'],
    });
    this.child = child;
    child.on('message', (message: FromVassal, handle: unknown) => this.fromVassal(message, handle));
    child.once('exit', (code, signal) => this.exited(child, code, signal));
    child.once('error', (err) => {
      // The process could not be started at all (no pids, no memory): no 'exit' follows.
      if (child.pid === undefined) this.exited(child, null, null, `it could not be started: ${err.message}`);
    });
    this.log.info({ vassalPid: child.pid, file: this.file }, `Vassal ${this.name} started (pid: ${child.pid})`);
    this.passHeld();
  }

  /** Pass a signal on (HUP, USR1); false when it is not running. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.child) return false;
    try {
      this.child.kill(signal);
    } catch {
      return false;
    }
    return true;
  }

  /** Stop it (TERM gracefully, QUIT quickly) and resolve once it has exited; at once when not running. */
  stop(signal: 'SIGTERM' | 'SIGQUIT'): Promise<void> {
    clearTimeout(this.pendingStart);
    this.pendingStart = undefined;
    const child = this.child;
    if (!child) {
      this.setState('stopped');
      return Promise.resolve();
    }
    const exited = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    if (!this.stopRequested) {
      this.stopRequested = true;
      this.setState('stopping');
      child.kill(signal);
      const margin = (this.settings?.gracefulTimeout ?? 30_000) + STOP_MARGIN_MS;
      const killer = setTimeout(() => {
        this.log.warn({ vassalPid: child.pid }, `Vassal ${this.name} did not stop within ${margin} ms: killing it`);
        child.kill('SIGKILL');
      }, margin);
      child.once('exit', () => clearTimeout(killer));
    } else if (signal === 'SIGQUIT') {
      child.kill(signal);
    }
    return exited;
  }

  /** On demand: what the emperor holds reaches it once it takes connections (held-sockets.ts waits for that). */
  passHeld(): void {
    const child = this.child;
    if (!child || !this.holder) return;
    this.holder.passHeld((message, handle, sent) => {
      this.log.debug(`Vassal ${this.name}: passing a held connection`);
      if (!child.connected) return false;
      // send's false means only a long queue (a burst of connections): the message is queued, not refused.
      child.send(message, handle as never, {}, () => sent());
      return true;
    });
  }

  summary(): VassalSummary {
    return {
      name: this.name,
      file: this.file,
      state: this.state,
      onDemand: this.settings?.onDemand ?? false,
      pid: this.pid,
      workers: this.child ? (this.report?.workers ?? 0) : 0,
      rss: this.child ? (this.report?.rss ?? 0) : 0,
      requests: this.report?.requests ?? 0,
      lastRequestAt: this.report?.lastRequestAt ?? null,
      reason: this.reason,
      restarts: this.restarts,
      since: this.since,
    };
  }

  /** As the host limit counts it: running, the most workers it may run and its last run's memory, from its start
   *  on: a vassal just started reports none yet, and one with --workers MIN:MAX may grow to MAX without asking. */
  poolView(): VassalSummary {
    const summary = this.summary();
    if (!this.child) return summary;
    return { ...summary, workers: Math.max(summary.workers, this.settings?.workers ?? 1), rss: Math.max(summary.rss, this.lastRss) };
  }

  /** Its memory as its last run reported it: the host limit's estimate for its next start. */
  get lastRss(): number {
    return this.report?.rss ?? this.previousRss;
  }

  setState(state: VassalState): void {
    if (state !== this.state) this.since = Date.now();
    this.state = state;
  }

  /** Put aside until its file changes or `start NAME`: no restarts. */
  putAside(reason: string): void {
    this.reason = reason;
    this.setState('put-aside');
  }

  /** A fresh start asked for (its file changed, `start NAME`): its past failures are forgiven, and
   *  a restart still waiting for its backoff is dropped (it would start a second time). */
  forgive(): void {
    clearTimeout(this.pendingStart);
    this.pendingStart = undefined;
    this.failedStarts = 0;
    this.streak = 0;
    this.reason = null;
  }

  private fromVassal(message: FromVassal, handle: unknown): void {
    this.log.debug({ message, handle: handle !== undefined }, `Vassal ${this.name}: ${message.type}`);
    if (this.holder?.fromVassal(message, handle)) {
      if (message.type === 'unicorn:vassal-leaving') this.leaving = true;
      return;
    }
    switch (message.type) {
      case 'unicorn:vassal-report': {
        const { type: _, ...report } = message;
        this.report = report;
        if (report.state === 'serving' && this.servedAt === undefined) {
          this.servedAt = Date.now();
          this.failedStarts = 0;
          this.reason = null;
        }
        if (!this.stopRequested) this.setState(report.state);
        return;
      }
      case 'unicorn:vassal-failed':
        this.failedReason = message.reason;
        return;
      case 'unicorn:vassal-leaving':
        this.leaving = true;
        return;
      default:
        return;
    }
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, cannotStart?: string): void {
    if (this.child !== child) return;
    const end = this.settle(child, code, signal, cannotStart);
    // After the state is settled: the holder starts the next vassal at once for what it holds (an idle one's).
    this.holder?.vassalGone();
    this.onEnd(this, end);
  }

  /** Its state and bookkeeping once it has exited, and what the emperor is to do. */
  private settle(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, cannotStart?: string): VassalEnd {
    this.child = undefined;
    for (const resolve of this.exitWaiters.splice(0)) resolve();
    const how = cannotStart ?? (signal ? `it was killed by ${signal}` : `it exited with code ${code}`);
    this.log.info({ vassalPid: child.pid, code, signal }, `Vassal ${this.name} (pid: ${child.pid}): ${how}`);
    if (this.stopRequested) {
      // On demand, its sockets still held (the host limit stopped it): its next connection starts it.
      this.setState(this.holder ? 'idle' : 'stopped');
      return { kind: 'stopped' };
    }
    if (this.leaving && code === 0) {
      this.setState('idle');
      return { kind: 'left' };
    }
    const now = Date.now();
    // Without reports (a vassal that does not send them) a long enough run is taken for serving.
    const served = this.servedAt !== undefined || now - this.startedAt >= SERVED_FOR_MS;
    const servedLong = now - (this.servedAt ?? this.startedAt) >= SERVED_FOR_MS;
    this.streak = served && servedLong ? 1 : this.streak + 1;
    // A process that could not be started at all (the emperor out of descriptors, pids or memory) says
    // nothing of the vassal: it is retried with the backoff, never put aside for it.
    if (cannotStart === undefined) this.failedStarts = served ? 0 : this.failedStarts + 1;
    const reason = this.failedReason ?? how;
    this.reason = reason;
    // Exit code 2: its settings were refused, which no restart mends.
    if (code === 2) {
      this.putAside(reason);
      return { kind: 'put-aside', reason };
    }
    if (this.failedStarts >= FAILED_STARTS_BEFORE_PUT_ASIDE) {
      const why = `${reason} (${this.failedStarts} starts in a row ended before it served)`;
      this.putAside(why);
      return { kind: 'put-aside', reason: why };
    }
    this.setState('failed');
    return { kind: 'failed', reason, restartInMs: restartDelay(this.streak) };
  }
}
