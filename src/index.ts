/** The programmatic surface: the config file's `defineConfig`, and types for apps, config files and
 *  plugins. The command line is `bin/unicorn`. */

export type { BindAddress } from './config/address';
export type { ConfigContext } from './config/file';
export type { HandlerInterface, Settings, WorkerClass } from './config/settings';
export { defineConfig, type UnicornConfig } from './define';
export type {
  ArbiterInfo,
  ArbiterView,
  ExitReason,
  HookName,
  Hooks,
  Plugin,
  PluginEntry,
  RequestInfo,
  ServerStats,
  WorkerSelf,
  WorkerState,
  WorkerStats,
} from './hooks/types';
export { ExitCode } from './shared/exit-codes';
export { VERSION } from './shared/version';
export type { FetchEnv, FetchHandler } from './worker/fetch';
export type { NodeListener } from './worker/handler';
