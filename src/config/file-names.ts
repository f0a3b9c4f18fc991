/** The config files unicorn looks for, in this order, where it starts (without -c). `.mts` and
 *  `.cts` are there because a `.ts` file is CommonJS in a package whose package.json says
 *  `"type": "commonjs"`, and an ES-module config there needs the `.mts` name. */
export const CONFIG_FILE_NAMES = [
  'unicorn.config.ts',
  'unicorn.config.mts',
  'unicorn.config.cts',
  'unicorn.config.mjs',
  'unicorn.config.js',
  'unicorn.config.cjs',
  'unicorn.config.json',
] as const;
