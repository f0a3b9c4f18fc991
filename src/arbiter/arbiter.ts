import cluster, { type Worker } from 'node:cluster';
import { unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config/settings';
import { ExitCode } from '../exit-codes';
import { isMessage, WORKER_BOOT_ENV, type ToArbiter, type ToWorker, type WorkerBoot } from '../ipc';
import type { Logger } from '../log';
import { VERSION } from '../version';
import { bindAll, closeAll, type Listener } from './listeners';

/** Where a worker is in its life, as the arbiter sees it. */
type WorkerState = 'booting' | 'ready' | 'stopping';

interface WorkerRecord {
  id: number;
  pid: number;
  handle: Worker;
  state: WorkerState;
}

/** What the loop acts on. Signal handlers and cluster events only enqueue these. */
type ArbiterEvent =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'ready'; id: number };

interface Stop {
  graceful: boolean;
  /** When still-running workers get SIGKILL. */
  deadline: number;
  exitCode: ExitCode;
}

/** How long the loop sleeps when nothing is due; events wake it at once. */
const IDLE_TICK_MS = 1000;
/** How long workers told to stop quickly (SIGQUIT) have to exit before they are killed. */
const QUICK_STOP_GRACE_MS = 1000;
/** Bounds of the randomized delay before an unexpectedly dead worker is replaced. */
const RESPAWN_DELAY_MS = [100, 400] as const;

/** The signals the arbiter acts on, and what each one means. */
const SIGNAL_ACTIONS = {
  SIGTERM: 'graceful-stop',
  SIGINT: 'quick-stop',
  SIGQUIT: 'quick-stop',
} as const satisfies Partial<Record<NodeJS.Signals, string>>;

type HandledSignal = keyof typeof SIGNAL_ACTIONS;

const WORKER_ENTRY = path.join(__dirname, '..', 'worker', 'main.js');

/**
 * The master process: binds the listeners, forks the workers through `node:cluster`, replaces the
 * ones that die, and stops them on signals. Everything that changes its state happens in `run`'s
 * loop, one event at a time; handlers only enqueue.
 */
export class Arbiter {
  private readonly workers = new Map<number, WorkerRecord>();
  private readonly events: ArbiterEvent[] = [];
  private listeners: Listener[] = [];
  private lastWorkerId = 0;
  private nextSpawnAt = 0;
  private stop: Stop | undefined;
  private wake: () => void = () => {};

  constructor(
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Serve until stopped; resolves with the exit code. Throws if a listener cannot be bound. */
  async run(): Promise<ExitCode> {
    this.log.info({ version: VERSION, node: process.version }, `Starting unicorn ${VERSION}`);
    this.listeners = await bindAll(this.settings.bind, this.settings.backlog);
    process.once('exit', () => this.removeSocketFiles());
    for (const { url } of this.listeners) {
      this.log.info({ address: url }, `Listening at: ${url} (${process.pid})`);
    }
    this.log.info({ workerClass: this.settings.workerClass }, `Using worker: ${this.settings.workerClass}`);
    this.installSignalHandlers();
    this.setupCluster();

    for (;;) {
      this.handleEvents();
      if (this.stop) {
        this.murderOverdueWorkers();
        if (this.workers.size === 0) break;
      } else {
        this.manageWorkers();
      }
      await this.sleep(this.msUntilDue());
    }
    this.log.info('Shutting down: Master');
    return this.stop.exitCode;
  }

  private handleEvents(): void {
    for (let event = this.events.shift(); event; event = this.events.shift()) {
      switch (event.kind) {
        case 'signal':
          this.handleSignal(event.signal as HandledSignal);
          break;
        case 'exit':
          this.reapWorker(event.id, event.code, event.signal);
          break;
        case 'ready':
          this.markReady(event.id);
          break;
      }
    }
  }

  private handleSignal(signal: HandledSignal): void {
    const action = SIGNAL_ACTIONS[signal];
    this.log.info({ signal }, `Handling signal: ${signal.slice(3).toLowerCase()}`);
    if (action === 'graceful-stop' && !this.stop) this.beginStop(true, ExitCode.OK);
    // A second stop signal, or a quick one, makes the stop quick.
    else this.beginStop(false, this.stop?.exitCode ?? ExitCode.OK);
  }

  private reapWorker(id: number, code: number | null, signal: NodeJS.Signals | null): void {
    const record = this.workers.get(id);
    if (!record) return;
    this.workers.delete(id);
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const fields = { workerId: id, workerPid: record.pid, code, signal };
    if (record.state === 'stopping') {
      this.log.info(fields, `Worker (pid:${record.pid}) ${how}`);
      return;
    }
    if (code === ExitCode.APP_LOAD_ERROR || code === ExitCode.WORKER_BOOT_ERROR) {
      const what = code === ExitCode.APP_LOAD_ERROR ? 'App failed to load' : 'Worker failed to boot';
      this.log.error(fields, `${what} in worker (pid:${record.pid}); stopping`);
      if (!this.stop) this.beginStop(true, code);
      return;
    }
    this.log.error(fields, `Worker (pid:${record.pid}) ${how}`);
    if (!this.stop) this.delayRespawn();
  }

  private markReady(id: number): void {
    const record = this.workers.get(id);
    if (record?.state !== 'booting') return;
    record.state = 'ready';
    this.log.info({ workerId: id, workerPid: record.pid }, `Worker (pid:${record.pid}) ready`);
  }

  /** Fork workers until there are as many as asked for, once any respawn delay has passed. */
  private manageWorkers(): void {
    if (this.now() < this.nextSpawnAt) return;
    while (this.liveWorkerCount() < this.settings.workers) {
      if (!this.spawnWorker()) {
        this.delayRespawn();
        return;
      }
    }
  }

  private liveWorkerCount(): number {
    let count = 0;
    for (const record of this.workers.values()) if (record.state !== 'stopping') count++;
    return count;
  }

  private delayRespawn(): void {
    const [min, max] = RESPAWN_DELAY_MS;
    this.nextSpawnAt = Math.max(this.nextSpawnAt, this.now() + min + Math.random() * (max - min));
  }

  /** Fork one worker; false when the process could not even be started (out of pids or fds). */
  private spawnWorker(): boolean {
    const id = ++this.lastWorkerId;
    const boot: WorkerBoot = {
      workerId: id,
      app: this.settings.app,
      interface: this.settings.interface,
      workerClass: this.settings.workerClass,
      workerConnections: this.settings.workerConnections,
      keepAlive: this.settings.keepAlive,
      backlog: this.settings.backlog,
      listeners: this.listeners.map((l) => l.url),
    };
    const cannotFork = (err: Error) => this.log.error({ err, workerId: id }, `Cannot fork a worker: ${err.message}`);
    let handle: Worker;
    try {
      handle = cluster.fork({ [WORKER_BOOT_ENV]: JSON.stringify(boot) });
    } catch (err) {
      cannotFork(err as Error);
      return false;
    }
    const pid = handle.process.pid;
    if (pid === undefined) {
      // The spawn failed (no pids or fds left); its error event follows, and no exit event will.
      handle.once('error', cannotFork);
      return false;
    }
    const record: WorkerRecord = { id, pid, handle, state: 'booting' };
    this.workers.set(id, record);
    handle.on('message', (message: unknown) => this.onWorkerMessage(record, message));
    // A send to a worker that has just died fails; its exit event tells the rest.
    handle.on('error', (err) => this.log.debug({ err, workerId: id }, 'IPC error'));
    handle.on('exit', (code, signal) =>
      this.enqueue({ kind: 'exit', id, code, signal: signal as NodeJS.Signals | null }),
    );
    this.log.info({ workerId: id, workerPid: pid }, `Booting worker with pid: ${pid}`);
    return true;
  }

  private onWorkerMessage(record: WorkerRecord, message: unknown): void {
    if (!isMessage(message)) return;
    const msg = message as ToArbiter;
    switch (msg.type) {
      case 'unicorn:ready':
        this.enqueue({ kind: 'ready', id: record.id });
        break;
      case 'unicorn:need-listener':
        // A service, not a change of state: answered at once.
        if (!this.stop && this.listeners[msg.index]) this.sendListener(record, msg.index);
        break;
    }
  }

  private sendListener(record: WorkerRecord, index: number): void {
    const listener = this.listeners[index]!;
    const message: ToWorker = { type: 'unicorn:listener', index, address: listener.url };
    // A raw handle ('net.Native' to child_process): the worker listens on it itself (worker/accept.ts).
    if (record.handle.isConnected()) record.handle.send(message, listener.handle as never);
  }

  private beginStop(graceful: boolean, exitCode: ExitCode): void {
    const limit = graceful ? this.settings.gracefulTimeout : Math.min(QUICK_STOP_GRACE_MS, this.settings.gracefulTimeout);
    const deadline = Math.min(this.stop?.deadline ?? Infinity, this.now() + limit);
    const alreadyQuick = this.stop && !this.stop.graceful;
    this.stop = { graceful: graceful && (this.stop?.graceful ?? true), deadline, exitCode };
    if (alreadyQuick) return;
    closeAll(this.listeners);
    const signal = this.stop.graceful ? 'SIGTERM' : 'SIGQUIT';
    for (const record of this.workers.values()) {
      record.state = 'stopping';
      record.handle.process.kill(signal);
    }
  }

  /** Once the stop deadline has passed, workers still alive are killed. */
  private murderOverdueWorkers(): void {
    if (!this.stop || this.now() < this.stop.deadline) return;
    for (const record of this.workers.values()) {
      if (record.handle.process.signalCode === null && record.handle.process.exitCode === null) {
        this.log.warn({ workerId: record.id, workerPid: record.pid }, `Killing worker (pid:${record.pid})`);
        record.handle.process.kill('SIGKILL');
      }
    }
    this.stop.deadline = Infinity;
  }

  private msUntilDue(): number {
    const due = Math.min(
      this.stop ? this.stop.deadline : Infinity,
      !this.stop && this.nextSpawnAt > this.now() ? this.nextSpawnAt : Infinity,
    );
    return Math.max(0, Math.min(IDLE_TICK_MS, due - this.now()));
  }

  private enqueue(event: ArbiterEvent): void {
    this.events.push(event);
    this.wake();
  }

  private sleep(ms: number): Promise<void> {
    if (this.events.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private installSignalHandlers(): void {
    for (const signal of Object.keys(SIGNAL_ACTIONS) as HandledSignal[]) {
      process.on(signal, () => this.enqueue({ kind: 'signal', signal }));
    }
  }

  private setupCluster(): void {
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      args: [],
      execArgv: workerExecArgv(),
      silent: false,
    });
  }

  /** For an arbiter that dies without closing its listeners (an uncaught error): no stale files. */
  private removeSocketFiles(): void {
    for (const { address } of this.listeners) {
      if (address.kind !== 'unix') continue;
      try {
        unlinkSync(address.path);
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * The workers run with the arbiter's Node options, minus debugger flags (every worker would fight
 * for the same inspector port), plus type stripping on a Node 22 that does not strip by default, so
 * that a TypeScript app loads the same on every supported Node.
 */
function workerExecArgv(): string[] {
  const argv = process.execArgv.filter((arg) => !/^--inspect(-brk|-port)?(=|$)/.test(arg));
  const features = process.features as { typescript?: string | false };
  if (!features.typescript && !argv.includes('--experimental-strip-types')) argv.push('--experimental-strip-types');
  return argv;
}
