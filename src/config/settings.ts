/**
 * The settings registry (src/config/settings/): one declaration per setting, in a file per section,
 * from which the command line, the environment variables, the config file's keys, --print-config,
 * docs/settings.md and the `Settings` type all come. This module is its public face.
 */

export { describeSettings } from './settings/describe';
export { keepFixedAtStart } from './settings/fixed-at-start';
export {
  type OptionKey,
  type RegisteredSpec as SettingSpec,
  SETTINGS,
  type Settings,
} from './settings/registry';
export {
  type AppSource,
  inapplicable,
  type Layer,
  longFlag,
  parseSetting,
  type RawOptions,
  type Resolved,
  resolveLayers,
  resolveSettings,
  type Sources,
} from './settings/resolve';
export type { CertReqs } from './settings/tls';
export type { HandlerInterface, WorkerClass } from './settings/worker';
