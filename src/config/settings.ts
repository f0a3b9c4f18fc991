/**
 * The settings registry (src/config/settings/): one declaration per setting, in a file per section,
 * from which the command line, the environment variables, the config file's keys, --print-config,
 * docs/settings.md and the `Settings` type all come. This module is its public face.
 */
export {
  SETTINGS,
  settingSpec,
  type OptionKey,
  type RegisteredSpec as SettingSpec,
  type Settings,
  type SettingValues,
  type SpecOf,
} from './settings/registry';
export type { Parser, ParseContext, Section } from './settings/spec';
export {
  inapplicable,
  longFlag,
  parseSetting,
  resolveLayers,
  resolveSettings,
  type AppSource,
  type Layer,
  type RawOptions,
  type Resolved,
  type Sources,
} from './settings/resolve';
export { describeSettings, type DescribeOptions } from './settings/describe';
export { keepFixedAtStart, type KeptAtStart } from './settings/fixed-at-start';
export type { CertReqs } from './settings/tls';
export type { HandlerInterface, WorkerClass } from './settings/worker';
export { DEFAULT_ACCESS_LOG_FORMAT, type LogLevel } from './settings/logging';
export { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from './settings/security';
