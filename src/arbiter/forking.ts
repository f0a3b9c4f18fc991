/**
 * A worker's birth: preFork first, then its process, its IPC channel and its output. A worker no
 * longer wanted once preFork has run (a stop, a reload that failed or replaced its configuration,
 * fewer workers) is not forked. Staffing decides how many; this forks each one.
 */
import type { ConfigSource } from '../config/file';
import type { Settings } from '../config/settings';
import type { TlsMaterial } from '../config/tls';
import type { ArbiterView, WorkerStats } from '../hooks/types';
import { pipesStderr } from '../ipc';
import type { Logger } from '../shared/log';
import type { BootAttempts } from './boot-attempts';
import type { HookQueue } from './hook-queue';
import type { LogFileOwnership } from './privileges';
import { startTime } from './reaper';
import type { Reload } from './reload';
import type { Staffing } from './staffing';
import type { WorkerChannels } from './worker-channel';
import { forkWorker, readOutput, type WorkerRecord } from './worker-process';
import type { WorkerTable } from './worker-table';

export interface ForkingContext {
  log: Logger;
  now: () => number;
  /** When the arbiter started (wall clock), for the workers' stats. */
  startedAt: number;
  /** Where unicorn was started, before --chdir. */
  launchCwd: string;
  view: ArbiterView;
  settings: () => Settings;
  /** The config file's text and the TLS files of the settings in force. */
  configSource: () => ConfigSource | undefined;
  tls: () => TlsMaterial | undefined;
  listenerUrls: () => string[];
  target: () => number;
  stopping: () => boolean;
  workers: WorkerTable;
  reload: Pick<Reload<unknown>, 'generation' | 'isStarting'>;
  staffing: Staffing;
  bootAttempts: BootAttempts;
  hookQueue: HookQueue;
  channels: WorkerChannels;
  logFiles: LogFileOwnership;
  /** A reload whose workers cannot be forked would wait for good: it fails. */
  failReload: (why: string) => void;
}

export class Forking {
  private lastWorkerId = 0;

  constructor(private readonly context: ForkingContext) {}

  /** Fork one worker of the current generation once preFork has run. */
  spawn(): void {
    const { context } = this;
    const { staffing, reload, log } = context;
    const id = ++this.lastWorkerId;
    const generation = reload.generation;
    const unborn: WorkerStats = {
      id,
      pid: 0,
      generation,
      state: 'booting',
      startedAt: Date.now(),
      age: 0,
      requests: 0,
      inFlight: 0,
      elu: 0,
      connections: 0,
      rss: 0,
      accessLogDropped: 0,
      mounts: {},
      heartbeatAge: 0,
      published: {},
    };
    staffing.preForkBegun(id, generation);
    context.hookQueue.after('preFork', [context.view, unborn], (err) => {
      staffing.preForkEnded(id);
      if (err) {
        log.error({ err, workerId: id }, `Not forking worker ${id}: ${err.message}`);
        if (reload.isStarting(generation)) context.failReload(`preFork refused worker ${id}: ${err.message}`);
        else staffing.failedStart('was refused by preFork');
        return;
      }
      const wanted = context.workers.counting(reload.generation).length + staffing.forking(generation);
      if (context.stopping() || generation !== reload.generation || wanted >= context.target()) return;
      if (!this.fork(id)) staffing.forkFailed();
    });
  }

  /** Start worker `id`'s process; undefined when it could not even be started (out of pids or fds). */
  private fork(id: number): WorkerRecord | undefined {
    const { context } = this;
    const { log } = context;
    const settings = context.settings();
    const cannotFork = (err: Error) => log.error({ err, workerId: id }, `Cannot fork a worker: ${err.message}`);
    const generation = context.reload.generation;
    const fork = {
      id,
      generation,
      listeners: context.listenerUrls(),
      // After preFork: the boot timeout counts the worker's own time only.
      now: context.now(),
      arbiterStartedAt: context.startedAt,
      launchCwd: context.launchCwd,
      configSource: context.configSource(),
      bootAttempt: context.bootAttempts.next(),
    };
    context.logFiles.prepare(settings);
    const record = forkWorker(settings, fork, cannotFork);
    if (!record) return undefined;
    const { pid } = record;
    record.startTime = startTime(pid);
    context.workers.add(record);
    const captured = pipesStderr(settings) ? readOutput(record, log, settings.captureOutput) : undefined;
    context.channels.attach(record, captured);
    // Over IPC, not in the boot environment: a CA bundle can outgrow an environment string.
    const tls = context.tls();
    if (tls) context.channels.send(record, { type: 'unicorn:tls', material: tls });
    log.info({ workerId: id, workerPid: pid, generation }, `Booting worker with pid: ${pid}`);
    return record;
  }
}
