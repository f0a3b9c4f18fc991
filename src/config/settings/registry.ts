/**
 * Every setting unicorn has, gathered from the section files, and the `Settings` type computed
 * from them. A new setting is one `spec({...})` in its section's file and its key in HELP_ORDER.
 */
import type { AppSpec } from '../app-spec';
import type { WorkerBounds } from '../worker-count';
import { CONFIG_SETTINGS } from './config';
import { CONTROL_SETTINGS } from './control';
import { DEVELOPMENT_SETTINGS } from './development';
import { ELASTIC_SETTINGS } from './elastic';
import { LOGGING_SETTINGS } from './logging';
import { PRIVILEGES_SETTINGS } from './privileges';
import { PROXY_SETTINGS } from './proxy';
import { RECYCLING_SETTINGS } from './recycling';
import { SECURITY_SETTINGS } from './security';
import { SERVER_SETTINGS } from './server';
import { SITES_SETTINGS } from './sites';
import type { SettingSpec } from './spec';
import { TLS_SETTINGS } from './tls';
import { WORKER_SETTINGS } from './worker';

const DECLARED = [
  ...SERVER_SETTINGS,
  ...SITES_SETTINGS,
  ...TLS_SETTINGS,
  ...PRIVILEGES_SETTINGS,
  ...WORKER_SETTINGS,
  ...ELASTIC_SETTINGS,
  ...SECURITY_SETTINGS,
  ...RECYCLING_SETTINGS,
  ...LOGGING_SETTINGS,
  ...PROXY_SETTINGS,
  ...CONTROL_SETTINGS,
  ...CONFIG_SETTINGS,
  ...DEVELOPMENT_SETTINGS,
] as const;

type Declared = (typeof DECLARED)[number];

export type OptionKey = Declared['key'];

/** Any registered setting, as the code that walks the registry sees it. */
export type RegisteredSpec = SettingSpec<OptionKey, unknown, unknown>;

/** The spec of one setting, with its own types. */
export type SpecOf<K extends OptionKey> = Extract<Declared, { key: K }>;

/**
 * Every setting's value: a list of what its parser gives when repeatable, else what the parser gives
 * or the default (durations in milliseconds, sizes in bytes, paths absolute). Where one of the two
 * types holds the other, it is that type as written (WorkerClass, not its members), which is what
 * an editor shows for a config file. Written inline: through a type alias, an editor would name the
 * alias instead.
 */
export type SettingValues = {
  [K in OptionKey]: SpecOf<K> extends SettingSpec<K, infer P, infer D>
    ? SpecOf<K> extends { repeatable: true }
      ? P[]
      : [P] extends [D]
        ? D
        : [D] extends [P]
          ? P
          : P | D
    : never;
};

/** The effective configuration of one unicorn run, after every source has been applied. */
export interface Settings extends Omit<SettingValues, 'workers'> {
  /** The app at /: the command line's, or the config file's `app`. There may be none when mounts or
   *  static directories serve (sites.ts). */
  app: AppSpec | undefined;
  /** The worker count the arbiter starts with: --workers N, auto's CPUs, or MIN:MAX's MIN (at least 1). */
  workers: number;
  /** What --workers asked for (resolve.ts takes it apart): the bounds the load moves the count in
   *  (`by: 'load'`), or a fixed count. Beside `workers`, which stays the plain count hooks and the
   *  code that forks read. */
  workerBounds: WorkerBounds;
}

/** The order --help, --print-config and the first refusal follow (not the docs' sections). */
const HELP_ORDER = [
  'workers',
  'bind',
  'mounts',
  'static',
  'staticCacheSize',
  'staticMaxAge',
  'staticImmutable',
  'staticDotfiles',
  'staticFollowSymlinks',
  'staticPrecompressed',
  'backlog',
  'certfile',
  'keyfile',
  'caCerts',
  'certReqs',
  'http2',
  'idleTimeout',
  'scaleUpAt',
  'scaleDownAt',
  'scaleBacklog',
  'scaleWindow',
  'scaleCooldown',
  'scaleDownAfter',
  'onDemand',
  'workerClass',
  'workerConnections',
  'keepAlive',
  'timeout',
  'workerBootTimeout',
  'bootAttempts',
  'gracefulTimeout',
  'limitRequestLine',
  'limitRequestFields',
  'limitRequestFieldSize',
  'limitRequestBody',
  'headerTimeout',
  'maxRequests',
  'maxRequestsJitter',
  'maxWorkerMemory',
  'maxWorkerLifetime',
  'maxWorkerLifetimeJitter',
  'reusePort',
  'pid',
  'chdir',
  'user',
  'group',
  'initgroups',
  'umask',
  'interface',
  'config',
  'hook',
  'hookTimeout',
  'reload',
  'reloadExtraFile',
  'errorLogfile',
  'logLevel',
  'logFormat',
  'accessLogfile',
  'accessLogformat',
  'captureOutput',
  'controlSocket',
  'forwardedAllowIps',
  'proxyProtocol',
  'proxyAllowFrom',
  'proxyProtocolTimeout',
] as const satisfies readonly OptionKey[];

// A setting declared but not placed in HELP_ORDER would be missing from --help: a type error here.
type Unplaced = Exclude<OptionKey, (typeof HELP_ORDER)[number]>;
const everySettingPlaced: [Unplaced] extends [never] ? true : Unplaced = true;
void everySettingPlaced;

const BY_KEY = new Map<OptionKey, RegisteredSpec>(DECLARED.map((s) => [s.key, s as RegisteredSpec]));

/** Every setting unicorn has, in the order --help lists them. */
export const SETTINGS: readonly RegisteredSpec[] = HELP_ORDER.map((key) => BY_KEY.get(key)!);

/** One setting's spec, by key. */
export const settingSpec = (key: OptionKey): RegisteredSpec => BY_KEY.get(key)!;
