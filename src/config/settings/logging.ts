/** The error log (unicorn's own) and the access log (one line a request). */

import { compileAccessFormat } from '../../shared/access-format';
import type { LogFormat } from '../../shared/log';
import { choice, fromTable, OFF_SWITCH, writableFileOrDash } from './parsers';
import { type Parser, spec } from './spec';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Gunicorn's access-log format, the default. */
export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** Gunicorn's atoms or 'json', compiled here only to refuse a bad one at startup, naming the atom. */
const accessFormat: Parser<string> = (raw) => {
  const format = raw.trim();
  if (format === '') return { refused: 'empty' };
  const compiled = compileAccessFormat(format);
  return typeof compiled === 'function' ? format : { refused: compiled.problem };
};

/** Gunicorn's level names are accepted beside pino's. */
const LOG_LEVELS: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  critical: 'fatal',
};

/** The logging section. */
export const LOGGING_SETTINGS = [
  spec({
    key: 'errorLogfile',
    flags: '--error-logfile <PATH>',
    section: 'logging',
    fixedAtStart: true,
    description: "where unicorn's own log goes: a file (reopened on USR1), or - for stderr",
    accepted: 'a file path in an existing directory, or -',
    // Refused here rather than when the arbiter opens it: before anything is bound, with a message.
    parse: (raw, ctx) => writableFileOrDash(raw, ctx) ?? '-',
    defaultValue: () => '-',
    defaultText: '- (stderr)',
  }),
  spec({
    key: 'logLevel',
    flags: '--log-level <LEVEL>',
    section: 'logging',
    fixedAtStart: true,
    description: 'the least severe error-log lines written',
    accepted: 'debug, info, warn (or warning), error, fatal (or critical)',
    env: 'UNICORN_LOG_LEVEL',
    parse: fromTable(LOG_LEVELS),
    defaultValue: () => 'info' as const,
    defaultText: 'info',
  }),
  spec({
    key: 'logFormat',
    flags: '--log-format <FORMAT>',
    section: 'logging',
    fixedAtStart: true,
    description: 'the error log as readable text or as one JSON object per line',
    accepted: 'text or json',
    parse: choice<LogFormat>('text', 'json'),
    defaultValue: () => undefined,
    defaultText: 'text on a terminal, else json',
  }),
  spec({
    key: 'accessLogfile',
    flags: '--access-logfile <PATH>',
    section: 'logging',
    description: 'log every request: to a file (reopened on USR1), or - for stdout',
    accepted: 'a writable file path in an existing directory, or -',
    parse: writableFileOrDash,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'accessLogformat',
    flags: '--access-logformat <FORMAT>',
    section: 'logging',
    description: 'the access-log line: Gunicorn atoms such as %(h)s %(r)s %(s)s (docs/logging.md), or json',
    accepted: 'a format of %(…)s atoms, or json',
    parse: accessFormat,
    defaultValue: () => DEFAULT_ACCESS_LOG_FORMAT,
    defaultText: DEFAULT_ACCESS_LOG_FORMAT,
  }),
  spec({
    key: 'captureOutput',
    flags: '--capture-output',
    section: 'logging',
    description: "send what the workers write to stdout and stderr (the app's console.log) to the error log",
    ...OFF_SWITCH,
  }),
] as const;
