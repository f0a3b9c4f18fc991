/** The config files unicorn looks for, in this order, where it starts (without -c). */
export const CONFIG_FILE_NAMES = ['unicorn.config.ts', 'unicorn.config.mjs', 'unicorn.config.js', 'unicorn.config.cjs', 'unicorn.config.json'] as const;
