/**
 * The config file: found (-c, or unicorn.config.* where unicorn starts), imported, and split into
 * setting values, the app, plugins and hooks. Setting values are validated by the registry like
 * any other source; hooks by the hook loader. Everything else is refused here, by name.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { registerHooks } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HOOK_NAMES, type HookName, isHookName } from '../hooks/catalogue';
import { describeError, kindOf } from '../shared/describe';
import { badConfig, show } from '../shared/errors';
import { asModuleIfWritten } from '../shared/typescript-modules';
import { unwrapDefault } from '../shared/unwrap-default';
import { CONFIG_FILE_NAMES } from './file-names';
import { gunicornOnlyKey } from './gunicorn-only';
import { didYouMean } from './nearest';
import { type OptionKey, type RawOptions, SETTINGS, type SettingSpec } from './settings';
import { fillVassalName } from './vassal-template';

export interface ConfigFile {
  file: string;
  /** How messages name it: relative to where unicorn started when it is inside it. */
  label: string;
  /** Setting values, by key, as the file gives them (validated by the registry). */
  values: RawOptions;
  app?: string;
  /** As the file lists them (validated by the hook loader). */
  plugins: unknown[];
  /** The file's own hooks (validated by the hook loader). */
  hooks: Partial<Record<HookName, unknown>>;
  /** The file as it was read: workers import this, not the file on disk (see `loadConfigFile`). */
  source?: ConfigSource;
}

/** A config file's text as a module load gave it, with the format Node loaded it as. */
export interface ConfigSource {
  format: string;
  text: string;
  /** The URL the loader gave the module (the file's real path, through any symlink): a worker
   *  loads the text under it, so that its relative imports resolve as the arbiter's did. */
  url?: string;
}

/** The most a config file may hold: it travels to each worker in its environment (an environment
 *  string is limited to 128 KiB on Linux). */
const MAX_CONFIG_BYTES = 64 * 1024;

/** What a config file exporting a function is called with. */
export interface ConfigContext {
  env: NodeJS.ProcessEnv;
  /** Set when the file is read for a vassal of `unicorn emperor`: its name and the file it was
   *  named by (the link, for a family of symlinks to one file). */
  vassal?: { name: string; file: string };
}

const EXTENSIONS = ['.ts', '.mts', '.cts', '.mjs', '.js', '.cjs', '.json'];
const SETTING_KEYS = new Map((SETTINGS as readonly SettingSpec[]).map((s) => [s.key as string, s]));
const OTHER_KEYS = ['app', 'plugins'];
const KNOWN_KEYS = [...SETTING_KEYS.keys(), ...OTHER_KEYS, ...HOOK_NAMES].filter((k) => !SETTING_KEYS.get(k)?.notInConfigFile);

/** The first of unicorn.config.{ts,mjs,js,cjs,json} in `dir`. */
export function findConfigFile(dir: string): string | undefined {
  return CONFIG_FILE_NAMES.map((name) => path.join(dir, name)).find((file) => existsSync(file));
}

let imports = 0;

export interface LoadOptions {
  /** Import the file again even if this process has before (a HUP re-reads it); modules the file
   *  itself imports stay as first loaded. */
  fresh?: boolean;
  /** Import this text instead of the file on disk: what the arbiter read, in a worker. */
  pinned?: ConfigSource;
  /** Read it as this vassal's (vassal-template.ts): `%n` is the name, and a function gets it. */
  vassal?: string;
}

/**
 * Import the file and take it apart. The arbiter reads the file at start and on each HUP it
 * accepts; a worker imports the same text (`pinned`), so that a file edited since (even broken)
 * takes effect on the next HUP, for every process at once, and never in a worker respawned before.
 */
export async function loadConfigFile(file: string, launchCwd: string, options: LoadOptions = {}): Promise<ConfigFile> {
  const relative = path.relative(launchCwd, file);
  const label = relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
  const { exported, source } = await importConfig(file, label, options);
  let config: unknown = exported;
  const context: ConfigContext = { env: process.env };
  if (options.vassal !== undefined) context.vassal = { name: options.vassal, file };
  if (typeof exported === 'function') {
    try {
      config = await (exported as (context: ConfigContext) => unknown)(context);
    } catch (err) {
      throw badConfig(`the config file ${label} exports a function that threw: ${describeError(err)}`, err);
    }
  }
  if (options.vassal !== undefined) config = fillVassalName(config, options.vassal);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw badConfig(
      `the config file ${label} must export an object of settings (or a function returning one); it exports ${kindOf(config)}`,
    );
  }
  const result: ConfigFile = { file, label, values: {}, plugins: [], hooks: {}, source };
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    const setting = SETTING_KEYS.get(key);
    if (setting?.notInConfigFile) {
      throw badConfig(`${label}: ${key} cannot be set in a config file: ${setting.notInConfigFile}`);
    } else if (setting) {
      result.values[key as OptionKey] = value;
    } else if (key === 'app') {
      if (typeof value !== 'string')
        throw badConfig(`${label}: app ${show(value)} is not accepted: expected a string, MODULE or MODULE:EXPORT`);
      result.app = value;
    } else if (key === 'plugins') {
      if (!Array.isArray(value)) throw badConfig(`${label}: plugins ${show(value)} is not accepted: expected a list of plugins`);
      result.plugins = value;
    } else if (isHookName(key)) {
      result.hooks[key] = value;
    } else if (gunicornOnlyKey(key)) {
      throw badConfig(`${label}: ${gunicornOnlyKey(key)}`);
    } else {
      throw badConfig(
        `${label}: unknown key "${key}"${didYouMean(key, KNOWN_KEYS)}; the keys are the settings in docs/settings.md, app, plugins and the hooks in docs/hooks.md`,
      );
    }
  }
  return result;
}

/** The file's plugins as --print-config lists them: a module by the name given, a plugin given as
 *  a value (imported in the file) by what it is. */
export function pluginNames(config: ConfigFile): string[] {
  return config.plugins.map((entry) => {
    if (typeof entry === 'string') return entry;
    if (Array.isArray(entry) && typeof entry[0] === 'string') return entry[0];
    const plugin = unwrapDefault(entry);
    if (typeof plugin === 'function') return plugin.name ? `<function ${plugin.name}>` : '<function>';
    return '<hooks>';
  });
}

/** What a config file (`label` in messages) exports, imported as unicorn imports its own (`.json` read, a module
 *  imported, TypeScript where Node runs it): the emperor reads its config file with this too. */
export async function importConfig(
  file: string,
  label: string,
  { fresh, pinned }: LoadOptions,
): Promise<{ exported: unknown; source?: ConfigSource }> {
  const ext = path.extname(file);
  if (!EXTENSIONS.includes(ext)) {
    throw badConfig(`the config file ${label} is not accepted: expected a file ending in ${EXTENSIONS.join(', ')}`);
  }
  const refuseSize = (source: ConfigSource) => {
    // Measured as it travels: escaped in JSON.
    const bytes = Buffer.byteLength(JSON.stringify(source.text));
    if (bytes > MAX_CONFIG_BYTES) {
      throw badConfig(
        `the config file ${label} takes ${Math.ceil(bytes / 1024)} KiB to hand to every worker; unicorn takes up to ${MAX_CONFIG_BYTES / 1024} KiB: move code into modules it imports`,
      );
    }
    return source;
  };
  if (ext === '.json') {
    try {
      const source = pinned ?? refuseSize({ format: 'json', text: readFileSync(file, 'utf8') });
      return { exported: JSON.parse(source.text), source };
    } catch (err) {
      throw badConfig(`cannot read the config file ${label}: ${describeError(err)}`, err);
    }
  }
  const features = process.features as { typescript?: string | false };
  if (['.ts', '.mts', '.cts'].includes(ext) && !features.typescript) {
    throw badConfig(
      `cannot read the config file ${label}: this Node.js (${process.version}) does not run TypeScript (it was started with --no-experimental-strip-types); remove that flag from NODE_OPTIONS, or use a .mjs config`,
    );
  }
  let url = pathToFileURL(file).href;
  if (fresh) {
    // ES modules are cached by URL (a new query is a new module); CommonJS ones by file name, the
    // real one (a symlinked file is cached under its target's name).
    delete require.cache[file];
    try {
      delete require.cache[realpathSync(file)];
    } catch {
      // Gone: the import says so.
    }
    url += `?unicorn-reread=${++imports}`;
  }
  hookModuleLoads();
  if (pinned) pinnedSources.set(url, pinned);
  else configUrls.add(url);
  let namespace: { default?: unknown };
  try {
    namespace = (await import(url)) as { default?: unknown };
  } catch (err) {
    throw badConfig(`cannot read the config file ${label}: ${describeError(err)}`, err);
  }
  const source = pinned ?? takeReadSource(url, file);
  if (!source) throw badConfig(`cannot read the config file ${label}: it was imported before, and its text was not kept`);
  return { exported: namespace.default !== undefined ? namespace.default : namespace, source: refuseSize(source) };
}

/** Config-file URLs whose text is given rather than read (a worker's), by the URL imported and by
 *  the URL it is loaded under; the config-file URLs imported to be read, by the URL the loader
 *  resolved each to (its real path); and the text each such import read. Module loads are seen
 *  through a load hook because only the loader knows the format it chose (a .js file is CommonJS or
 *  an ES module by its package.json). */
const pinnedSources = new Map<string, ConfigSource>();
const servedSources = new Map<string, ConfigSource>();
const configUrls = new Set<string>();
const resolvedConfigUrls = new Map<string, string>();
const readSources = new Map<string, ConfigSource>();
let hooked = false;
/** The text last read of each config file, for an import the module cache answered. */
const lastRead = new Map<string, ConfigSource>();

/** The text an import read, let go of by the maps above: a HUP imports the file anew each time. */
function takeReadSource(url: string, file: string): ConfigSource | undefined {
  const source = readSources.get(url) ?? lastRead.get(file);
  readSources.delete(url);
  configUrls.delete(url);
  for (const [resolved, imported] of resolvedConfigUrls) if (imported === url) resolvedConfigUrls.delete(resolved);
  if (source) lastRead.set(file, source);
  return source;
}

function hookModuleLoads(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const pinned = pinnedSources.get(specifier);
      if (pinned) {
        // Not resolved on disk: the file may be gone, or a symlink to it point elsewhere by now.
        const url = pinned.url ?? specifier;
        servedSources.set(url, pinned);
        return { url, format: pinned.format as never, shortCircuit: true };
      }
      const result = nextResolve(specifier, context);
      if (configUrls.has(specifier)) resolvedConfigUrls.set(result.url, specifier);
      return result;
    },
    load(url, context, nextLoad) {
      const pinned = servedSources.get(url);
      if (pinned) return { format: pinned.format as never, source: pinned.text, shortCircuit: true };
      const result = asModuleIfWritten(url, nextLoad(url, context));
      const imported = resolvedConfigUrls.get(url);
      if (imported !== undefined) {
        // CommonJS may come back without its source: Node reads it itself.
        const text =
          result.source == null ? readFileSync(fileURLToPath(url), 'utf8') : Buffer.from(result.source as Uint8Array).toString('utf8');
        const loadedAs = new URL(url);
        loadedAs.search = '';
        readSources.set(imported, { format: result.format ?? 'commonjs', text, url: loadedAs.href });
      }
      return result;
    },
  });
}
