/**
 * Resolving the settings: every source (defaults, the config file, UNICORN_CMD_ARGS, the command
 * line) applied in order through the registry's parsers, each refusal naming its source.
 */
import { badUsage, badValue, show } from '../../shared/errors';
import { APP_SPEC_FORMS, type AppSpec, parseAppSpec } from '../app-spec';
import { appMounts, repeatedPrefix } from '../mount-spec';
import { formatWorkers, startingCount, type WorkerBounds } from '../worker-count';
import { refuseIdleWithReusePort } from './elastic';
import { type OptionKey, type RegisteredSpec, SETTINGS, type Settings, settingSpec } from './registry';
import type { ParseContext } from './spec';

/** The raw values one source gave, keyed by setting: strings (arrays for repeatable settings, true
 *  for a switch) from a command line, anything at all from a config file. */
export type RawOptions = Partial<Record<OptionKey, unknown>>;

/**
 * One source of settings. Sources are applied lowest first: defaults (with PORT and
 * WEB_CONCURRENCY) < config file < UNICORN_CMD_ARGS < command line.
 */
export interface Layer {
  /** How a value from it is named in messages, before the flag or key: '' for the command line,
   *  'UNICORN_CMD_ARGS: ', 'unicorn.config.mjs: '. */
  label: string;
  /** Flags (--workers) or config-file keys (workers). */
  names: 'flags' | 'keys';
  values: RawOptions;
}

/** Where a setting's value came from: the flag, key or variable that gave it, or "default". */
export type Sources = Record<OptionKey, string>;

export interface Resolved {
  settings: Settings;
  sources: Sources;
}

/** The app as a source gave it, and which source. */
export interface AppSource {
  raw: string;
  source: string;
}

export const longFlag = (setting: RegisteredSpec): string => /--[\w-]+/.exec(setting.flags)![0];

/**
 * Apply the sources in order, lowest first, and refuse the first bad value with a message naming
 * its source, the value and what is accepted.
 */
export function resolveLayers(app: AppSource | undefined, layers: Layer[], env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Resolved {
  const ctx: ParseContext = { cwd };
  const values: Partial<Record<OptionKey, unknown>> = {};
  const sources: Partial<Sources> = {};
  // --chdir first: relative paths in the other settings are relative to it.
  const ordered = [...SETTINGS].sort((a, b) => Number(b.key === 'chdir') - Number(a.key === 'chdir'));
  for (const setting of ordered) {
    const given: Array<{ source: string; raws: string[] }> = [];
    for (const layer of layers) {
      const value = layer.values[setting.key];
      if (value === undefined) continue;
      const flag = value === false && setting.negatable ? longFlag(setting).replace('--', '--no-') : longFlag(setting);
      const source = `${layer.label}${layer.names === 'flags' ? flag : setting.key}`;
      given.push({ source, raws: layer.names === 'flags' ? flagRaws(value) : configRaws(setting, value, source) });
    }
    const fromEnv = setting.env !== undefined ? env[setting.env] : undefined;
    let value: unknown;
    if (given.length > 0) {
      const used = setting.additive ? given : given.slice(-1);
      const parsed = used.flatMap(({ source, raws }) => raws.map((raw) => parseOne(setting, raw, source, ctx)));
      value = setting.repeatable ? parsed : parsed[parsed.length - 1];
      sources[setting.key] = used.map((g) => g.source).join(' + ');
    } else if (fromEnv !== undefined && fromEnv !== '') {
      const parsed = parseOne(setting, fromEnv, setting.env!, ctx);
      value = setting.repeatable ? [parsed] : parsed;
      sources[setting.key] = setting.env!;
    } else {
      value = setting.defaultValue(env, ctx);
      sources[setting.key] = setting.defaultEnv !== undefined && env[setting.defaultEnv] ? setting.defaultEnv : 'default';
    }
    values[setting.key] = value;
    if (setting.key === 'chdir' && typeof value === 'string') ctx.cwd = value;
  }

  const workerBounds = values.workers as WorkerBounds;
  const given = values as Omit<Settings, 'app' | 'workerBounds'>;
  const settings: Settings = { ...given, workers: startingCount(workerBounds), workerBounds, app: appAtRoot(app) };
  refuseZeroWithoutIdleStop(settings, sources as Sources);
  refuseRepeatedPrefixes(settings);
  refuseIdleWithReusePort(settings, sources as Sources);
  if (!settings.app && settings.mounts.length === 0 && settings.static.length === 0) {
    throw badUsage(
      `no app given: name it on the command line as ${APP_SPEC_FORMS}, or as \`app\` in a config file (or serve apps and files with --mount and --static)`,
    );
  }
  return { settings, sources: sources as Sources };
}

/** MIN 0: with no --idle-timeout nothing would ever stop the last worker or start one again. */
function refuseZeroWithoutIdleStop(settings: Pick<Settings, 'workerBounds' | 'idleTimeout'>, sources: Sources): void {
  if (settings.workerBounds.min > 0 || settings.idleTimeout > 0) return;
  throw badUsage(
    `${sources.workers} ${show(formatWorkers(settings.workerBounds))} is not accepted: a minimum of 0 workers needs --idle-timeout ` +
      `(the workers stop when idle and start on the next connection); expected a MIN of at least 1, or --idle-timeout too`,
  );
}

/** Two apps, or two directories, at one prefix: the message names both as they were given. */
function refuseRepeatedPrefixes(settings: Pick<Settings, 'app' | 'mounts' | 'static'>): void {
  const apps = repeatedPrefix(appMounts(settings));
  if (apps) {
    const [first, second] = apps;
    // The app named without a prefix is the one at /: a --mount at / is a second one there.
    const atRoot = first.app === settings.app ? ', and the app named without a prefix is the one at /' : '';
    throw badUsage(
      `two apps are given for the prefix ${first.prefix} (${first.app.raw} and ${second.app.raw}): one prefix serves one app${atRoot}`,
    );
  }
  const dirs = repeatedPrefix(settings.static);
  if (dirs) {
    const [first, second] = dirs;
    throw badUsage(
      `two directories are given for the prefix ${first.prefix} (${first.dir} and ${second.dir}): one prefix serves one directory`,
    );
  }
}

function appAtRoot(app: AppSource | undefined): AppSpec | undefined {
  if (!app) return undefined;
  const spec = parseAppSpec(app.raw);
  if (typeof spec === 'string') {
    const name = app.source === 'command line' ? 'the app' : `${app.source}`;
    throw badUsage(`${name} ${JSON.stringify(app.raw)} is not accepted: ${spec}; expected ${APP_SPEC_FORMS}`);
  }
  return spec;
}

/** The command line alone (with the environment's defaults): tests and simple callers. */
export function resolveSettings(appArg: string, flags: RawOptions, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Resolved {
  return resolveLayers({ raw: appArg, source: 'command line' }, [{ label: '', names: 'flags', values: flags }], env, cwd);
}

/** Commander gives a string, a list of them for a repeatable flag, or true for a switch. */
const flagRaws = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [String(value)]);

/** A config file may give numbers and booleans where a flag gives strings, and lists for
 *  repeatable settings; anything else is refused here, by the same message a bad string gets. */
function configRaws(setting: RegisteredSpec, value: unknown, source: string): string[] {
  const one = (item: unknown): string => {
    if (typeof item === 'string') return item;
    if (typeof item === 'number' && Number.isFinite(item)) return String(item);
    if (typeof item === 'boolean' && setting.switch) return String(item);
    if (item === false && setting.negatable) return 'false';
    const also = setting.repeatable ? ', or a list of them' : '';
    throw badValue(source, item, `${setting.accepted}${also}`);
  };
  if (Array.isArray(value)) {
    if (!setting.repeatable) throw badValue(source, value, setting.accepted);
    return value.map(one);
  }
  if (setting.prefixMap && typeof value === 'object' && value !== null) {
    return Object.entries(value).map(([prefix, item]) => `${prefix}=${one(item)}`);
  }
  return [one(value)];
}

/** Settings given for a worker class other than the one in use: they have no effect. */
export function inapplicable({ settings, sources }: Resolved): string[] {
  return SETTINGS.filter((s) => s.onlyFor && s.onlyFor !== settings.workerClass && sources[s.key] !== 'default').map(
    (s) => `${sources[s.key]} applies to the ${s.onlyFor} worker class only; with ${settings.workerClass} it has no effect`,
  );
}

/** One value of one setting, refused as any other source's would be. */
export function parseSetting(key: OptionKey, raw: string, source: string, cwd: string): unknown {
  return parseOne(settingSpec(key), raw, source, { cwd });
}

function parseOne(setting: RegisteredSpec, raw: string, source: string, ctx: ParseContext): unknown {
  const parsed = setting.parse(raw, ctx);
  if (typeof parsed === 'object' && parsed !== null && 'refused' in parsed) {
    const why = parsed.refused ? ` (${parsed.refused})` : '';
    throw badValue(source, raw, `${setting.accepted}${why}`);
  }
  return parsed;
}
