/** The config file and the lifecycle-hook plugins. */

import { FIRST_PARTY_PLUGINS } from '../../shared/first-party-plugins';
import { DURATION_FORMS } from '../duration';
import { CONFIG_FILE_NAMES } from '../file-names';
import { duration, existingFile, nonEmpty } from './parsers';
import { spec } from './spec';

/** The config section. */
export const CONFIG_SETTINGS = [
  spec({
    key: 'config',
    flags: '-c, --config <FILE>',
    section: 'config',
    description: `the config file to read; without it, the first of ${CONFIG_FILE_NAMES.join(', ')} in the directory unicorn starts in`,
    accepted: 'an existing file ending in .ts, .mjs, .js, .cjs or .json',
    notInConfigFile: 'it names the file itself',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'unicorn.config.* if there is one',
  }),
  spec({
    key: 'hook',
    flags: '--hook <MODULE>',
    section: 'config',
    description: `load a lifecycle-hook plugin: a module path, a package, or a first-party plugin by name (${FIRST_PARTY_PLUGINS.join(', ')}); repeatable`,
    accepted: 'a module path or package name',
    repeatable: true,
    additive: true,
    notInConfigFile: 'the config file lists plugins as `plugins`',
    parse: nonEmpty,
    defaultValue: () => [],
    defaultText: 'none',
  }),
  spec({
    key: 'hookTimeout',
    flags: '--hook-timeout <DURATION>',
    section: 'config',
    description: 'how long a lifecycle hook may take before it is cut off with an error naming it',
    accepted: `${DURATION_FORMS}, more than 0`,
    parse: (raw, ctx) => {
      const value = duration(raw, ctx);
      return value === 0 ? { refused: 'a hook cannot be given no time' } : value;
    },
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
] as const;
