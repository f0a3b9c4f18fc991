/**
 * The emperor's own settings: its command line (`unicorn emperor [DIR]`) over its config file
 * (`-c FILE`, keys `vassals`, `controlSocket`, `maxWorkers`, `maxMemory`, `metrics`, `logLevel`, `logFormat`).
 * Values go through the registry's parsers where a setting of the same meaning exists, so that they
 * are accepted and refused as a single unicorn's are.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseTcpAddress, TCP_ADDRESS_FORMS } from '../config/address';
import { importConfig } from '../config/file';
import { didYouMean } from '../config/nearest';
import { parseSetting } from '../config/settings';
import { wholeNumber } from '../config/settings/parsers';
import { parseSize, SIZE_FORMS } from '../config/size';
import { kindOf } from '../shared/describe';
import { badConfig, badUsage, badValue, show } from '../shared/errors';
import type { LogFormat } from '../shared/log';
import { unwrapDefault } from '../shared/unwrap-default';

export interface EmperorOptions {
  /** The directory of vassal config files. */
  vassals: string;
  /** The control socket `unicorn ctl` talks to; false for none, undefined for the default place. */
  controlSocket: string | false | undefined;
  /** At most this many workers across the vassals; 0 for no limit. */
  maxWorkers: number;
  /** At most this much memory across the vassals, in bytes; 0 for no limit. */
  maxMemory: number;
  /** Where the emperor serves its vassals' series for Prometheus (`GET /metrics`); undefined for nowhere. */
  metrics: { host: string; port: number } | undefined;
  logLevel: string;
  logFormat: LogFormat | undefined;
  /** `--check`: read every vassal file, print what would run, and exit. A flag only. */
  check: boolean;
}

type Raw = Partial<Record<keyof EmperorOptions, unknown>>;

/** What each key of the emperor's config file may be (a number where a flag's text would be a count or size). */
const KEY_TYPES: Record<Exclude<keyof EmperorOptions, 'check'>, { types: string[]; what: string }> = {
  vassals: { types: ['string'], what: 'a directory path, as a string' },
  controlSocket: { types: ['string', 'false'], what: 'a socket path, as a string, or false for none' },
  maxWorkers: { types: ['number', 'string'], what: 'a whole number of workers (0 for no limit)' },
  maxMemory: { types: ['number', 'string'], what: 'a size such as 512MB, or a number of bytes (0 for no limit)' },
  metrics: { types: ['string'], what: 'HOST:PORT, as a string' },
  logLevel: { types: ['string'], what: 'a log level, as a string' },
  logFormat: { types: ['string'], what: 'text or json' },
};
const KEYS = Object.keys(KEY_TYPES) as (keyof typeof KEY_TYPES)[];

function buildProgram(): Command {
  return new Command('unicorn emperor')
    .exitOverride()
    .argument('[DIR]', 'the directory of vassal config files: NAME.config.{ts,mts,cts,mjs,js,cjs,json}, one app each')
    .description('Run many apps: a unicorn (a vassal) for each config file in DIR, started, reloaded and stopped as the files come and go.')
    .helpOption('-h, --help')
    .option(
      '-c, --config <FILE>',
      'the emperor config file (.json, or a module exporting the object): ' +
        'vassals, controlSocket, maxWorkers, maxMemory, metrics, logLevel, logFormat',
    )
    .option('--control-socket <PATH>', 'the unix socket `unicorn ctl` talks to; --no-control-socket for none')
    .addOption(new Option('--no-control-socket', 'run no control socket'))
    .option(
      '--check',
      'read every vassal file as the emperor would, print one line per vassal or why it is refused, and exit (2 if any is)',
    )
    .option('--max-workers <N>', 'at most this many workers across all vassals (0: no limit) [default: 0]')
    .option('--max-memory <SIZE>', 'at most this much memory across all vassals, as the vassals report it (0: no limit) [default: 0]')
    .option('--metrics <HOST:PORT>', "serve each vassal's state, workers, memory and requests for Prometheus at http://HOST:PORT/metrics")
    .option('--log-level <LEVEL>', "the least severe lines of the emperor's log [default: info]")
    .option('--log-format <FORMAT>', "the emperor's log: text or json [default: text on a terminal, else json]")
    .addHelpText(
      'after',
      '\nFlags override the config file. Signals: TERM stops every vassal gracefully, INT and QUIT quickly, ' +
        'HUP re-reads DIR and reloads every vassal, USR1 reopens the logs. docs/emperor.md has the rest.',
    )
    .configureOutput({ outputError: (text) => process.stderr.write(`unicorn: ${text.trim().replace(/\n+/g, ' ')}\n`) });
}

/** Read the command line (argv after `emperor`) and the config file it names; throws a UnicornError. */
export async function readEmperorOptions(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<EmperorOptions> {
  const program = buildProgram();
  program.parse(args, { from: 'user' });
  const flags = program.opts<Raw & { config?: string; check?: boolean }>();
  // Checked as the server's --config is: an existing file, of a kind unicorn reads.
  const fromFile: Raw = flags.config !== undefined ? await readEmperorFile(parseSetting('config', flags.config, '-c', cwd) as string) : {};
  const fileLabel = flags.config !== undefined ? `${flags.config}: ` : '';
  const pick = (key: keyof EmperorOptions, flag: string) =>
    flags[key] !== undefined
      ? { raw: flags[key], source: flag }
      : fromFile[key] !== undefined
        ? { raw: fromFile[key], source: `${fileLabel}${key}` }
        : undefined;
  const dirArg = program.args[0];
  const dir = dirArg !== undefined ? { raw: dirArg, source: 'DIR' } : pick('vassals', 'DIR');
  if (!dir) throw badUsage('no vassal directory given: name it as `unicorn emperor DIR`, or as `vassals` in the emperor config file (-c)');
  // A config file's relative paths are relative to the file, as a reader of it expects.
  const cwdOf = (source: string) => (source.startsWith(fileLabel) && fileLabel ? path.dirname(path.resolve(cwd, flags.config!)) : cwd);
  const options: EmperorOptions = {
    vassals: directory(String(dir.raw), dir.source, cwdOf(dir.source)),
    controlSocket: undefined,
    maxWorkers: 0,
    maxMemory: 0,
    metrics: undefined,
    logLevel: env.UNICORN_LOG_LEVEL && env.UNICORN_LOG_LEVEL !== '' ? env.UNICORN_LOG_LEVEL : 'info',
    logFormat: undefined,
    check: flags.check === true,
  };
  const control = pick('controlSocket', flags.controlSocket === false ? '--no-control-socket' : '--control-socket');
  if (control)
    options.controlSocket = parseSetting('controlSocket', String(control.raw), control.source, cwdOf(control.source)) as string | false;
  const workers = pick('maxWorkers', '--max-workers');
  if (workers) {
    const parsed = wholeNumber(0)(String(workers.raw), { cwd });
    if (typeof parsed !== 'number') throw badValue(workers.source, workers.raw, 'a whole number of workers (0 for no limit)');
    options.maxWorkers = parsed;
  }
  const memory = pick('maxMemory', '--max-memory');
  if (memory) {
    const parsed = parseSize(String(memory.raw));
    if (parsed === undefined) throw badValue(memory.source, memory.raw, SIZE_FORMS);
    options.maxMemory = parsed;
  }
  const metrics = pick('metrics', '--metrics');
  if (metrics) {
    const parsed = parseTcpAddress(String(metrics.raw));
    if (typeof parsed === 'string') throw badValue(metrics.source, metrics.raw, `${TCP_ADDRESS_FORMS}: ${parsed}`);
    options.metrics = parsed;
  }
  const level = pick('logLevel', '--log-level');
  if (level) options.logLevel = parseSetting('logLevel', String(level.raw), level.source, cwd) as string;
  else options.logLevel = parseSetting('logLevel', options.logLevel, 'UNICORN_LOG_LEVEL', cwd) as string;
  const format = pick('logFormat', '--log-format');
  if (format) options.logFormat = parseSetting('logFormat', String(format.raw), format.source, cwd) as LogFormat;
  return options;
}

function directory(raw: string, source: string, cwd: string): string {
  const dir = path.resolve(cwd, raw);
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory())
    throw badValue(source, raw, `a directory of vassal config files (${stat ? 'not a directory' : 'no such directory'}: ${dir})`);
  return dir;
}

/** The emperor config file: JSON, or a module whose export is the object. Unknown keys are refused by name. */
async function readEmperorFile(file: string): Promise<Raw> {
  const exported = unwrapDefault((await importConfig(file, file, {})).exported);
  if (typeof exported !== 'object' || exported === null || Array.isArray(exported)) {
    throw badConfig(`the emperor config file ${file} must give an object of settings; it gives ${kindOf(exported)}`);
  }
  for (const [key, value] of Object.entries(exported)) {
    if (!(KEYS as string[]).includes(key)) {
      throw badConfig(`${file}: unknown key ${show(key)}${didYouMean(key, [...KEYS])}; the emperor's keys are ${KEYS.join(', ')}`);
    }
    const accepted = KEY_TYPES[key as keyof typeof KEY_TYPES];
    if (!accepted.types.includes(value === false ? 'false' : typeof value)) throw badValue(`${file}: ${key}`, value, accepted.what);
  }
  return exported as Raw;
}
