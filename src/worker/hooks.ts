/**
 * The worker's side of the lifecycle hooks: it loads the config file's plugins and hooks and the
 * --hook modules itself (functions do not cross the process boundary), and gives them the small
 * `arbiter` and `worker` objects of hooks/types.ts.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HookRunner } from '../hooks/run';
import type { ArbiterInfo, RequestInfo, WorkerSelf } from '../hooks/types';
import type { WorkerBoot } from '../ipc';
import type { Logger } from '../shared/log';
import { VASSAL_NAME_VARIABLE } from '../vassal-ipc';
import type { RequestHooks } from './server';

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
  const config = settings.config
    ? await loadConfigFile()(settings.config, boot.launchCwd, { pinned: boot.configSource, vassal: process.env[VASSAL_NAME_VARIABLE] })
    : undefined;
  // The plugin loader (module resolution, the first-party plugins' names) only when there are plugins to load.
  const loadPlugins = () => (require('../hooks/load') as typeof import('../hooks/load')).loadPlugins;
  const plugins = config || settings.hook.length > 0 ? await loadPlugins()(config, settings.hook, process.cwd()) : [];
  const runner = new HookRunner(plugins, settings.hookTimeout, log);
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

/** The per-request hooks, only where a plugin has them: without, requests take the plain path. */
export function requestHooks({ runner, self }: WorkerHooks): RequestHooks | undefined {
  const pre = runner.has('preRequest') ? (req: IncomingMessage) => runner.run('preRequest', self, req) : undefined;
  const post = runner.has('postRequest')
    ? (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => void runner.run('postRequest', self, req, res, info)
    : undefined;
  return pre || post ? { pre, post } : undefined;
}
