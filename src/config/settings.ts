/**
 * The settings registry (src/config/settings/): one declaration per setting, in a file per section,
 * from which the command line, the environment variables, the config file's keys, --print-config,
 * docs/settings.md and the `Settings` type all come. This module is its public face.
 */

export { type DescribeOptions, describeSettings } from './settings/describe';
export { type KeptAtStart, keepFixedAtStart } from './settings/fixed-at-start';
export { DEFAULT_ACCESS_LOG_FORMAT, type LogLevel } from './settings/logging';
export {
  type OptionKey,
  type RegisteredSpec as SettingSpec,
  SETTINGS,
  type Settings,
  type SettingValues,
  type SpecOf,
  settingSpec,
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
export { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from './settings/security';
export type { ParseContext, Parser, Section } from './settings/spec';
export type { CertReqs } from './settings/tls';
export type { HandlerInterface, WorkerClass } from './settings/worker';
