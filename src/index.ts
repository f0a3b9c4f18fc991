/** The programmatic surface: the config file's `defineConfig`, and types for apps, config files and
 *  plugins. The command line is `bin/unicorn`. */
export { defineConfig, type UnicornConfig } from './define';
export type { ConfigContext } from './config/file';
export type { Settings, WorkerClass, HandlerInterface } from './config/settings';
export type { BindAddress } from './config/address';
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
export type { FetchEnv, FetchHandler } from './worker/fetch';
export type { NodeListener } from './worker/handler';
export { ExitCode } from './shared/exit-codes';
export { VERSION } from './shared/version';
