import { statSync } from 'node:fs';
import path from 'node:path';
import { badUsage, badValue } from '../errors';
import { ADDRESS_FORMS, formatAddress, parseAddress, type BindAddress } from './address';
import { APP_SPEC_FORMS, parseAppSpec, type AppSpec } from './app-spec';
import { DURATION_FORMS, formatDuration, parseDuration } from './duration';
import { formatSize, parseSize, SIZE_FORMS } from './size';

export type WorkerClass = 'sync' | 'async';
export type HandlerInterface = 'auto' | 'node' | 'fetch';

/** The effective configuration of one unicorn run, after every source has been applied. */
export interface Settings {
  app: AppSpec;
  workers: number;
  bind: BindAddress[];
  backlog: number;
  workerClass: WorkerClass;
  workerConnections: number;
  /** Milliseconds. */
  keepAlive: number;
  /** Milliseconds; 0 disables. */
  timeout: number;
  /** Milliseconds; 0 disables. */
  workerBootTimeout: number;
  /** Milliseconds. */
  gracefulTimeout: number;
  /** Requests a worker serves before it is replaced; 0 for no limit. */
  maxRequests: number;
  /** Up to this many more, at random per worker, so that workers are not all replaced at once. */
  maxRequestsJitter: number;
  /** Bytes of resident memory past which a worker is replaced; 0 for no limit. */
  maxWorkerMemory: number;
  /** Milliseconds a worker lives before it is replaced; 0 for no limit. */
  maxWorkerLifetime: number;
  /** Milliseconds, up to which each worker's lifetime is lengthened at random. */
  maxWorkerLifetimeJitter: number;
  /** Absolute path of the pidfile, or undefined for none. */
  pid: string | undefined;
  /** Absolute, or undefined to stay where unicorn was started. */
  chdir: string | undefined;
  interface: HandlerInterface;
}

type OptionKey = Exclude<keyof Settings, 'app'>;

/** What a setting parser gets besides the raw string. */
interface ParseContext {
  /** The directory relative paths are resolved against (after --chdir). */
  cwd: string;
}

/** A parser returns the value, or a string saying why the value is refused (beyond `accepted`). */
type Parser<T> = (raw: string, ctx: ParseContext) => T | { refused: string };

/**
 * One setting, declared once: the command line, the environment variables, `--help` and the
 * refusal messages all come from this entry.
 */
export interface SettingSpec<K extends OptionKey = OptionKey> {
  key: K;
  /** Commander's flag syntax, e.g. `-w, --workers <N>`. */
  flags: string;
  section: 'server' | 'worker' | 'recycling';
  description: string;
  /** What values are accepted, as refusals say it: "expected …". */
  accepted: string;
  /** An environment variable that supplies the value when the flag is absent. */
  env?: string;
  repeatable?: boolean;
  parse: Parser<K extends 'bind' ? BindAddress : Settings[K]>;
  /** The default, possibly derived from the environment (PORT for bind). */
  defaultValue: (env: NodeJS.ProcessEnv, ctx: ParseContext) => Settings[K];
  /** The default as --help shows it. */
  defaultText: string;
  /** Only meaningful with this worker class: setting it with the other one draws a warning. */
  onlyFor?: WorkerClass;
}

const wholeNumber =
  (min: number): Parser<number> =>
  (raw) => {
    const value = raw.trim();
    return /^\d+$/.test(value) && Number(value) >= min ? Number(value) : { refused: '' };
  };

const choice =
  <T extends string>(...choices: T[]): Parser<T> =>
  (raw) =>
    (choices as string[]).includes(raw) ? (raw as T) : { refused: '' };

const duration: Parser<number> = (raw) => parseDuration(raw) ?? { refused: '' };

const size: Parser<number> = (raw) => parseSize(raw) ?? { refused: '' };

const filePath: Parser<string | undefined> = (raw, ctx) => {
  if (raw.trim() === '') return { refused: 'empty' };
  const file = path.resolve(ctx.cwd, raw);
  const dir = statSync(path.dirname(file), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) return { refused: `no such directory: ${path.dirname(file)}` };
  return file;
};

const address: Parser<BindAddress> = (raw, ctx) => {
  const parsed = parseAddress(raw, ctx.cwd);
  return typeof parsed === 'string' ? { refused: parsed } : parsed;
};

const directory: Parser<string | undefined> = (raw, ctx) => {
  const dir = path.resolve(ctx.cwd, raw);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) return { refused: 'no such directory' };
  return stat.isDirectory() ? dir : { refused: 'not a directory' };
};

/** `PORT` (the PaaS convention) moves the default bind to every interface on that port. */
const defaultBind = (env: NodeJS.ProcessEnv): BindAddress[] => {
  if (env.PORT === undefined || env.PORT === '') return [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }];
  const port = env.PORT.trim();
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw badValue('PORT', env.PORT, 'a port number (0 to 65535)');
  return [{ kind: 'tcp', host: '0.0.0.0', port: Number(port) }];
};

function spec<K extends OptionKey>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

/** Every setting unicorn has, in the order --help lists them. */
export const SETTINGS = [
  spec({
    key: 'workers',
    flags: '-w, --workers <N>',
    section: 'worker',
    description: 'number of worker processes',
    accepted: 'a whole number of at least 1',
    env: 'WEB_CONCURRENCY',
    parse: wholeNumber(1),
    defaultValue: () => 1,
    defaultText: '$WEB_CONCURRENCY, else 1',
  }),
  spec({
    key: 'bind',
    flags: '-b, --bind <ADDRESS>',
    section: 'server',
    description: `address to listen at, repeatable: ${ADDRESS_FORMS}`,
    accepted: ADDRESS_FORMS,
    repeatable: true,
    parse: address,
    defaultValue: defaultBind,
    defaultText: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set',
  }),
  spec({
    key: 'backlog',
    flags: '--backlog <N>',
    section: 'server',
    description: 'connections the kernel queues for each listener before refusing more',
    accepted: 'a whole number of at least 1',
    parse: wholeNumber(1),
    defaultValue: () => 2048,
    defaultText: '2048',
  }),
  spec({
    key: 'workerClass',
    flags: '-k, --worker-class <CLASS>',
    section: 'worker',
    description: 'sync: one request at a time, Connection: close; async: concurrent requests with keep-alive',
    accepted: 'sync or async',
    parse: choice<WorkerClass>('sync', 'async'),
    defaultValue: () => 'sync' as const,
    defaultText: 'sync',
  }),
  spec({
    key: 'workerConnections',
    flags: '--worker-connections <N>',
    section: 'worker',
    description: 'async only: open connections per worker; past it new connections wait in the backlog',
    accepted: 'a whole number of at least 1',
    onlyFor: 'async',
    parse: wholeNumber(1),
    defaultValue: () => 1000,
    defaultText: '1000',
  }),
  spec({
    key: 'keepAlive',
    flags: '--keep-alive <DURATION>',
    section: 'worker',
    description: 'async only: how long an idle keep-alive connection is kept open',
    accepted: DURATION_FORMS,
    onlyFor: 'async',
    parse: duration,
    defaultValue: () => 5000,
    defaultText: '5s',
  }),
  spec({
    key: 'timeout',
    flags: '-t, --timeout <DURATION>',
    section: 'worker',
    description: 'a worker silent for longer than this is killed and replaced, its stack logged; sync: also the limit of one request; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'workerBootTimeout',
    flags: '--worker-boot-timeout <DURATION>',
    section: 'worker',
    description: 'a worker that has not loaded the app and started serving by then is killed; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 60_000,
    defaultText: '60s',
  }),
  spec({
    key: 'gracefulTimeout',
    flags: '--graceful-timeout <DURATION>',
    section: 'worker',
    description: 'on a graceful stop, how long in-flight requests may take before workers are killed',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'maxRequests',
    flags: '--max-requests <N>',
    section: 'recycling',
    description: 'replace a worker after it has served this many requests; 0 for no limit',
    accepted: 'a whole number (0 for no limit)',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxRequestsJitter',
    flags: '--max-requests-jitter <N>',
    section: 'recycling',
    description: 'add up to this many requests, at random per worker, to --max-requests',
    accepted: 'a whole number',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerMemory',
    flags: '--max-worker-memory <SIZE>',
    section: 'recycling',
    description: 'replace a worker whose resident memory passes this size; 0 for no limit',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetime',
    flags: '--max-worker-lifetime <DURATION>',
    section: 'recycling',
    description: 'replace a worker after it has run this long; 0 for no limit',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetimeJitter',
    flags: '--max-worker-lifetime-jitter <DURATION>',
    section: 'recycling',
    description: 'add up to this long, at random per worker, to --max-worker-lifetime',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'pid',
    flags: '-p, --pid <FILE>',
    section: 'server',
    description: "write the arbiter's pid to this file; refuse to start while it names a running process",
    accepted: 'a file path in an existing directory',
    parse: filePath,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'chdir',
    flags: '--chdir <DIR>',
    section: 'server',
    description: 'change to this directory before loading the app',
    accepted: 'an existing directory',
    parse: directory,
    defaultValue: () => undefined,
    defaultText: 'the current directory',
  }),
  spec({
    key: 'interface',
    flags: '--interface <KIND>',
    section: 'worker',
    description: 'the handler shape: node (req, res), fetch (Request => Response), or auto-detect',
    accepted: 'auto, node or fetch',
    parse: choice<HandlerInterface>('auto', 'node', 'fetch'),
    defaultValue: () => 'auto' as const,
    defaultText: 'auto',
  }),
] as const satisfies readonly SettingSpec[];

/** The raw strings the command line gave, keyed by setting; repeatable ones as arrays. */
export type RawOptions = Partial<Record<OptionKey, string | string[]>>;

/** Where a setting's value came from: the flag or variable that gave it, or "default". */
export type Sources = Record<OptionKey, string>;

export interface Resolved {
  settings: Settings;
  sources: Sources;
}

/**
 * Apply the sources, lowest to highest: defaults < environment < command line, and refuse the first
 * bad value with a message naming its source, the value and what is accepted.
 */
export function resolveSettings(
  appArg: string,
  flags: RawOptions,
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): Resolved {
  const ctx: ParseContext = { cwd };
  const values: Partial<Record<OptionKey, unknown>> = {};
  const sources: Partial<Sources> = {};
  // --chdir first: relative paths in the other settings are relative to it.
  const ordered = [...SETTINGS].sort((a, b) => Number(b.key === 'chdir') - Number(a.key === 'chdir'));
  for (const setting of ordered) {
    const longFlag = /--[\w-]+/.exec(setting.flags)![0];
    const given = flags[setting.key];
    const fromEnv = setting.env !== undefined ? env[setting.env] : undefined;
    let value: unknown;
    if (given !== undefined) {
      const raws = Array.isArray(given) ? given : [given];
      const parsed = raws.map((raw) => parseOne(setting as SettingSpec, raw, longFlag, ctx));
      value = setting.repeatable ? parsed : parsed[parsed.length - 1];
      sources[setting.key] = longFlag;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      const parsed = parseOne(setting as SettingSpec, fromEnv, setting.env!, ctx);
      value = setting.repeatable ? [parsed] : parsed;
      sources[setting.key] = setting.env!;
    } else {
      value = setting.defaultValue(env, ctx);
      sources[setting.key] = 'default';
    }
    values[setting.key] = value;
    if (setting.key === 'chdir' && typeof value === 'string') ctx.cwd = value;
  }

  const app = parseAppSpec(appArg);
  if (typeof app === 'string') {
    throw badUsage(`the app ${JSON.stringify(appArg)} is not accepted: ${app}; expected ${APP_SPEC_FORMS}`);
  }
  return { settings: { ...(values as Omit<Settings, 'app'>), app }, sources: sources as Sources };
}

/** Settings given for a worker class other than the one in use: they have no effect. */
export function inapplicable({ settings, sources }: Resolved): string[] {
  return SETTINGS.filter(
    (s) => 'onlyFor' in s && s.onlyFor !== settings.workerClass && sources[s.key] !== 'default',
  ).map((s) => `${sources[s.key]} applies to the ${(s as SettingSpec).onlyFor} worker class only; with ${settings.workerClass} it has no effect`);
}

function parseOne(setting: SettingSpec, raw: string, source: string, ctx: ParseContext): unknown {
  const parsed = setting.parse(raw, ctx);
  if (typeof parsed === 'object' && parsed !== null && 'refused' in parsed) {
    const why = parsed.refused ? ` (${parsed.refused})` : '';
    throw badValue(source, raw, `${setting.accepted}${why}`);
  }
  return parsed;
}

/**
 * The effective settings as `--print-config` shows them: one line each, with the value in the
 * form a flag takes and where it came from.
 */
export function describeSettings({ settings, sources }: Resolved): string {
  const rows: Array<[string, string, string]> = [['app', settings.app.raw, 'command line']];
  for (const setting of SETTINGS as readonly SettingSpec[]) {
    rows.push([setting.key, display(setting, settings[setting.key]), sources[setting.key]]);
  }
  const width = (column: 0 | 1) => Math.max(...rows.map((row) => row[column].length));
  return rows.map(([key, value, source]) => `${key.padEnd(width(0))}  ${value.padEnd(width(1))}  ${source}`).join('\n') + '\n';
}

function display(setting: SettingSpec, value: unknown): string {
  if (value === undefined) return '(none)';
  if (setting.accepted === ADDRESS_FORMS) return (value as BindAddress[]).map(formatAddress).join(' ');
  if (setting.accepted === DURATION_FORMS) return value === 0 ? '0' : formatDuration(value as number);
  if (setting.accepted === SIZE_FORMS) return value === 0 ? '0' : formatSize(value as number);
  return String(value);
}
