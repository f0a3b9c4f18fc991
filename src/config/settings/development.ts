/** Development: restart the workers when files change. */

import { globToRegExp, isGlob } from '../../shared/glob';
import { OFF_SWITCH } from './parsers';
import { type Parser, spec } from './spec';

const pathOrGlob: Parser<string> = (raw) => {
  const value = raw.trim();
  if (value === '') return { refused: 'empty' };
  return isGlob(value) && !globToRegExp(value) ? { refused: 'a { is not closed by a }' } : value;
};

/** The development section. */
export const DEVELOPMENT_SETTINGS = [
  spec({
    key: 'reload',
    flags: '--reload',
    section: 'development',
    description: "restart the workers (as HUP does) when a file in the app's directory changes",
    ...OFF_SWITCH,
  }),
  spec({
    key: 'reloadExtraFile',
    flags: '--reload-extra-file <PATH>',
    section: 'development',
    description: 'with --reload, also watch this file, directory or glob (such as config/**/*.yaml); repeatable',
    accepted: 'a path or glob',
    repeatable: true,
    parse: pathOrGlob,
    defaultValue: () => [],
    defaultText: 'none',
  }),
] as const;
