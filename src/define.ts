import type { Account } from './config/accounts';
import type { ConfigContext } from './config/file';
import type { OptionKey, Settings } from './config/settings';
import type { Hooks, PluginEntry } from './hooks/types';

/** What the config file may give for a setting of type T: numbers and durations as numbers or
 *  strings, lists as one string or several, choices as themselves, users and groups by name or id. */
type Input<T> = T extends boolean
  ? boolean
  : T extends number
    ? number | string
    : T extends readonly unknown[]
      ? string | string[]
      : T extends string
        ? T
        : T extends Account
          ? string | number
          : never;

/** Settings the config file cannot give (see `notInConfigFile` in the registry). */
type NotInConfigFile = 'config' | 'hook';

/** The config file's shape: settings by their registry names, the app, plugins and hooks. */
export type UnicornConfig = { [K in Exclude<OptionKey, NotInConfigFile>]?: Input<Settings[K]> } & {
  /** The app, as MODULE[:EXPORT]; the command line's wins. */
  app?: string;
  /** Hook plugins, run in this order, before --hook plugins and before this file's own hooks. */
  plugins?: PluginEntry[];
} & Hooks;

type ConfigFunction = (context: ConfigContext) => UnicornConfig | Promise<UnicornConfig>;

/** Types a config file: `export default defineConfig({ workers: 4, onStarting(arbiter) {…} })`.
 *  Not generic, so that a misspelt key is an error in the editor and not a silent extra property. */
export function defineConfig(config: UnicornConfig | ConfigFunction): UnicornConfig | ConfigFunction {
  return config;
}
