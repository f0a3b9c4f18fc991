/**
 * Loading plugins and hooks, in the order they compose: the config file's `plugins` in the order
 * listed, then `--hook` modules in the order given (UNICORN_CMD_ARGS before the command line), then
 * the config file's own hooks. Every process that runs hooks (the arbiter, each worker) loads them
 * itself; a plugin's factory therefore runs once per process, and must not start anything — that is
 * what onStarting and postWorkerInit are for.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConfigFile } from '../config/file';
import { didYouMean } from '../config/nearest';
import { describeError, kindOf } from '../shared/describe';
import { badHook } from '../shared/errors';
import { FIRST_PARTY_PLUGINS } from '../shared/first-party-plugins';
import { resolveModule } from '../shared/resolve';
import { unwrapDefault } from '../shared/unwrap-default';
import { HOOK_NAMES, isHookName } from './catalogue';
import type { Hooks } from './types';

export interface LoadedPlugin {
  /** How messages name it: `plugin "systemd"`, `unicorn.config.mjs`. */
  name: string;
  hooks: Hooks;
}

/** The first-party plugins, loadable by bare name (`--hook systemd`); compiled into dist/hooks. */
const FIRST_PARTY_DIR = path.join(__dirname, '..', '..', 'hooks');

export async function loadPlugins(config: ConfigFile | undefined, modules: readonly string[], cwd: string): Promise<LoadedPlugin[]> {
  const plugins: LoadedPlugin[] = [];
  for (const [i, entry] of (config?.plugins ?? []).entries()) {
    plugins.push(await loadEntry(entry, `${config!.label}: plugins[${i}]`, cwd));
  }
  for (const module of modules) plugins.push(await loadModule(module, undefined, cwd));
  if (config && Object.keys(config.hooks).length > 0) plugins.push({ name: config.label, hooks: checkHooks(config.hooks, config.label) });
  return plugins;
}

async function loadEntry(entry: unknown, where: string, cwd: string): Promise<LoadedPlugin> {
  if (typeof entry === 'string') return loadModule(entry, undefined, cwd, where);
  if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string') return loadModule(entry[0], entry[1], cwd, where);
  if (typeof entry === 'function' || (typeof entry === 'object' && entry !== null && !Array.isArray(entry))) {
    // `import systemd from 'unicorn-server/hooks/systemd'` in an ES-module config gives the compiled
    // CommonJS module's exports object: its default is the plugin.
    return { name: where, hooks: await instantiate(unwrapDefault(entry), undefined, where) };
  }
  throw badHook(
    `${where} is not accepted: expected a module name, [module, options], a plugin function or an object of hooks; got ${kindOf(entry)}`,
  );
}

/** `where`: the config file entry that names it, for messages (`--hook` plugins have none). */
async function loadModule(spec: string, options: unknown, cwd: string, where?: string): Promise<LoadedPlugin> {
  const name = `plugin ${JSON.stringify(spec)}${where ? ` (${where})` : ''}`;
  const file = resolvePlugin(spec, cwd);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw badHook(`cannot load the ${name}: importing ${file} failed: ${describeError(err)}`, err);
  }
  // A default export is the plugin; without one, the module's named exports are its hooks. A
  // TypeScript-compiled CommonJS module's default export arrives wrapped in its exports object.
  const exported: unknown = namespace.default !== undefined ? namespace.default : { ...namespace };
  return { name, hooks: await instantiate(unwrapDefault(exported), options, name) };
}

function resolvePlugin(spec: string, cwd: string): string {
  const bareName = /^[a-z][\w-]*$/.test(spec);
  if (bareName) {
    const firstParty = path.join(FIRST_PARTY_DIR, `${spec}.js`);
    if (existsSync(firstParty)) return firstParty;
  }
  const resolution = resolveModule(spec, cwd);
  if ('file' in resolution) return resolution.file;
  // A bare name found nowhere is most likely a first-party plugin's, misspelt.
  const guess = bareName ? didYouMean(spec, FIRST_PARTY_PLUGINS) : '';
  throw badHook(
    `cannot load the plugin ${JSON.stringify(spec)}${guess}: not a first-party plugin (${FIRST_PARTY_PLUGINS.join(', ')}), and not found from ${cwd} (tried ${resolution.tried.join(', ')})`,
  );
}

/** A plugin function is called with its options; an object is the hooks. */
async function instantiate(plugin: unknown, options: unknown, name: string): Promise<Hooks> {
  if (typeof plugin === 'function') {
    let hooks: unknown;
    try {
      hooks = await (plugin as (options: unknown) => unknown)(options);
    } catch (err) {
      // A plugin refusing its options says so in its own words: no `Error:` in front.
      const why = err instanceof Error && (err.name === 'Error' || err.name === 'UnicornError') ? err.message : describeError(err);
      throw badHook(`the ${name} failed to set up: ${why}`, err);
    }
    if (!isObject(hooks)) throw badHook(`the ${name} must return an object of hooks; it returned ${kindOf(hooks)}`);
    return checkHooks(hooks, name);
  }
  if (!isObject(plugin)) throw badHook(`the ${name} must export hooks or a function returning them; it exports ${kindOf(plugin)}`);
  if (options !== undefined) throw badHook(`the ${name} takes no options: it exports hooks, not a function of options`);
  return checkHooks(plugin, name);
}

/** The closed list: an unknown name or a value that is not a function is refused, naming it. */
export function checkHooks(candidate: object, name: string): Hooks {
  const hooks: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(candidate)) {
    if (value === undefined) continue;
    if (!isHookName(key))
      throw badHook(`${name}: unknown hook "${key}"${didYouMean(key, HOOK_NAMES)}; the hooks are ${HOOK_NAMES.join(', ')}`);
    if (typeof value !== 'function') throw badHook(`${name}: hook ${key} must be a function; it is ${kindOf(value)}`);
    hooks[key] = value;
  }
  return hooks as Hooks;
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value);
