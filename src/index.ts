/** The programmatic surface: types for apps and tooling. The command line is `bin/unicorn`. */
export type { Settings, WorkerClass, HandlerInterface } from './config/settings';
export type { BindAddress } from './config/address';
export type { FetchHandler } from './worker/fetch';
export type { NodeListener } from './worker/handler';
export { ExitCode } from './exit-codes';
export { VERSION } from './version';
