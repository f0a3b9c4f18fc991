/**
 * What a setting is: one declaration carries its flag, environment variable, config-file key,
 * parser, default, --help and docs text, and whether a reload may change it. The value's type is
 * not declared beside it: `Settings` is computed from the parser and the default (registry.ts).
 */

/** What a setting parser gets besides the raw string. */
export interface ParseContext {
  /** The directory relative paths are resolved against (after --chdir). */
  cwd: string;
}

/** How a parser refuses a value: why (beyond `accepted`), or '' when `accepted` says it all. */
export interface Refusal {
  refused: string;
}

/** A parser returns the value, or a refusal. */
export type Parser<T> = (raw: string, ctx: ParseContext) => T | Refusal;

/** The sections of --help and docs/settings.md, after Gunicorn's. */
export type Section =
  | 'server'
  | 'tls'
  | 'privileges'
  | 'worker'
  | 'elastic'
  | 'security'
  | 'recycling'
  | 'logging'
  | 'proxy'
  | 'control'
  | 'config'
  | 'development'
  | 'sites';

/**
 * One setting, declared once: the command line, the environment variables, the config file,
 * `--help`, `--print-config`, docs/settings.md and the refusal messages all come from this entry.
 * `P`: what the parser gives (one item of a repeatable setting); `D`: what the default is.
 */
export interface SettingSpec<K extends string = string, P = unknown, D = unknown> {
  key: K;
  /** Commander's flag syntax, e.g. `-w, --workers <N>`. */
  flags: string;
  section: Section;
  description: string;
  /** What values are accepted, as refusals say it: "expected …". */
  accepted: string;
  /** An environment variable that supplies the value when the flag is absent. */
  env?: string;
  /** Every source gives a list, and the value is the list (--bind). */
  repeatable?: boolean;
  /** A config file may also give the list as an object of PREFIX: VALUE pairs (`mounts: { '/api':
   *  'api.js:app' }`), each read as the flag's `PREFIX=VALUE`. */
  prefixMap?: boolean;
  /** Every source adds to the list instead of the higher one replacing it (--hook). */
  additive?: boolean;
  /** A switch without a value (`--reload`); the config file gives it as true or false. */
  switch?: boolean;
  /** Also a `--no-…` flag, described so, which (like false in a config file) reaches the parser
   *  as "false". */
  negatable?: string;
  /** The config file cannot set it (what file to read, for one). */
  notInConfigFile?: string;
  /** The arbiter acted on it at start (bound a socket, opened a log, dropped privileges): a reload
   *  keeps the running value, with a warning (fixed-at-start.ts). */
  fixedAtStart?: boolean;
  parse: Parser<P>;
  /** The default, possibly derived from the environment (PORT for bind). */
  defaultValue: (env: NodeJS.ProcessEnv, ctx: ParseContext) => D;
  /** The environment variable the default is derived from when it is set: the value's source. */
  defaultEnv?: string;
  /** The default as --help shows it. */
  defaultText: string;
  /** Only meaningful with this worker class (one --worker-class accepts; a test checks): setting it
   *  with the other one draws a warning. */
  onlyFor?: string;
  /** The value as --print-config shows it, where String() would not do. */
  display?(value: NonNullable<P | D>): string;
  /** What --print-config shows for no value, where `(none)` would not be true (a default that is
   *  settled only at start, such as the control socket's place). */
  unsetText?(env: NodeJS.ProcessEnv): string;
}

/** Any setting, as the code that walks the registry sees it. */
export type AnySettingSpec = SettingSpec<string, unknown, unknown>;

/**
 * Declares one setting. Generic so that the parser's and the default's types, and whether the
 * setting is repeatable, are kept: the `Settings` type is computed from them.
 */
export function spec<const K extends string, P, D, const R extends boolean | undefined = undefined>(
  s: SettingSpec<K, P, D> & { repeatable?: R },
): SettingSpec<K, P, D> & { repeatable?: R } & (R extends true ? { repeatable: true } : unknown) {
  return s as never;
}
