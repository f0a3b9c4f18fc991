/**
 * The worker's side of the lifecycle hooks: it loads the config file's plugins and hooks and the
 * --hook modules itself (functions do not cross the process boundary), and gives them the small
 * `arbiter` and `worker` objects of hooks/types.ts.
 */
import { loadPlugins } from '../hooks/load';
import { HookRunner } from '../hooks/run';
import type { ArbiterInfo, WorkerSelf } from '../hooks/types';
import type { WorkerBoot } from '../ipc';
import type { Logger } from '../shared/log';

export interface WorkerHooks {
  runner: HookRunner;
  arbiter: ArbiterInfo;
  self: WorkerSelf;
  /** What hooks published since the last heartbeat took it, or undefined. */
  takePublished(): Record<string, unknown> | undefined;
}

export async function loadWorkerHooks(boot: WorkerBoot, log: Logger, served: () => number): Promise<WorkerHooks> {
  const { settings } = boot;
  // The config file's loader brings the settings registry with it: loaded only when there is a file.
  const loadConfigFile = () => (require('../config/file') as typeof import('../config/file')).loadConfigFile;
  const config = settings.config ? await loadConfigFile()(settings.config, boot.launchCwd, { pinned: boot.configSource }) : undefined;
  const runner = new HookRunner(await loadPlugins(config, settings.hook, process.cwd()), settings.hookTimeout, log);
  const startedAt = Date.now();
  let published: Record<string, unknown> | undefined;
  const self: WorkerSelf = {
    id: boot.workerId,
    pid: process.pid,
    generation: boot.generation,
    startedAt,
    get age() {
      return Date.now() - startedAt;
    },
    config: settings,
    log,
    get requests() {
      return served();
    },
    publish(key, value) {
      published ??= {};
      published[key] = value;
    },
  };
  const arbiter: ArbiterInfo = { pid: process.ppid, startedAt: boot.arbiterStartedAt, config: settings, log };
  return {
    runner,
    arbiter,
    self,
    takePublished() {
      const taken = published;
      published = undefined;
      return taken;
    },
  };
}
