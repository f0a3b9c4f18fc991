import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import { compileAccessFormat } from '../access-format';
import { defaultControlDir, defaultControlSocket, socketPathProblem } from '../control';
import { cannotEnter } from '../dir-access';
import { globToRegExp, isGlob } from '../arbiter/glob';
import { badUsage, badValue } from '../errors';
import { reusePortProblem } from '../arbiter/reuse-port';
import { FIRST_PARTY_PLUGINS } from '../hooks/catalogue';
import { accountName, formatUmask, lookupGroup, lookupUser, parseUmask, type Account } from './accounts';
import { ADDRESS_FORMS, formatAddress, parseAddress, type BindAddress } from './address';
import { APP_SPEC_FORMS, parseAppSpec, type AppSpec } from './app-spec';
import { CONFIG_FILE_NAMES } from './file-names';
import { DURATION_FORMS, formatDuration, parseDuration } from './duration';
import { formatSizeExactly, parseSize, SIZE_FORMS } from './size';
import { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from './request-limits';
import { parsePeerList, PEER_LIST_FORMS } from '../trusted-peers';

export type WorkerClass = 'sync' | 'async';
export type HandlerInterface = 'auto' | 'node' | 'fetch';
/** Client certificates: not asked for; asked for (one given must verify); or required. */
export type CertReqs = 'none' | 'optional' | 'required';

/** The effective configuration of one unicorn run, after every source has been applied. */
export interface Settings {
  app: AppSpec;
  workers: number;
  bind: BindAddress[];
  backlog: number;
  workerClass: WorkerClass;
  workerConnections: number;
  /** Milliseconds. */
  keepAlive: number;
  /** Milliseconds; 0 disables. */
  timeout: number;
  /** Milliseconds; 0 disables. */
  workerBootTimeout: number;
  /** Boot attempts in a row that may time out, while no worker has been ready, before the server
   *  stops; 0 for no limit. */
  bootAttempts: number;
  /** Milliseconds. */
  gracefulTimeout: number;
  /** Bytes of a request line (method, target, version); 0 for no limit of its own. */
  limitRequestLine: number;
  /** Header fields in a request; 0 for the most there can be (32768). */
  limitRequestFields: number;
  /** Bytes of one header field line; 0 for no limit of its own. */
  limitRequestFieldSize: number;
  /** Bytes of a request body; 0 for no limit. */
  limitRequestBody: number;
  /** Milliseconds a client may take to send a request's line and headers; 0 disables. */
  headerTimeout: number;
  /** Requests a worker serves before it is replaced; 0 for no limit. */
  maxRequests: number;
  /** Up to this many more, at random per worker, so that workers are not all replaced at once. */
  maxRequestsJitter: number;
  /** Bytes of resident memory past which a worker is replaced; 0 for no limit. */
  maxWorkerMemory: number;
  /** Milliseconds a worker lives before it is replaced; 0 for no limit. */
  maxWorkerLifetime: number;
  /** Milliseconds, up to which each worker's lifetime is lengthened at random. */
  maxWorkerLifetimeJitter: number;
  /** Absolute path of the pidfile, or undefined for none. */
  pid: string | undefined;
  /** Absolute, or undefined to stay where unicorn was started. */
  chdir: string | undefined;
  interface: HandlerInterface;
  /** Absolute path of the config file read, or undefined for none. */
  config: string | undefined;
  /** Hook plugin modules from --hook, in the order given (the config file's `plugins` add to them). */
  hook: string[];
  /** Milliseconds a lifecycle hook may take. */
  hookTimeout: number;
  /** Restart the workers when a file of the app changes. */
  reload: boolean;
  /** More paths or globs --reload watches, relative to the working directory. */
  reloadExtraFile: string[];
  /** Absolute path of the error log, or '-' for stderr. */
  errorLogfile: string;
  logLevel: LogLevel;
  /** undefined: text when the error log is a terminal, else JSON. */
  logFormat: LogFormat | undefined;
  /** Absolute path of the access log, '-' for stdout, or undefined for none. */
  accessLogfile: string | undefined;
  /** Gunicorn-style atoms, or 'json'. */
  accessLogformat: string;
  /** The workers' stdout and stderr go to the error log. */
  captureOutput: boolean;
  /** Absolute path of the control socket; undefined for the default place, false for none. */
  controlSocket: string | false | undefined;
  /** Peers whose X-Forwarded-* and Forwarded headers are applied (worker/forwarded.ts): IP addresses,
   *  networks or `*`, an entry possibly holding several, comma separated (trusted-peers.ts). */
  forwardedAllowIps: string[];
  /** Read a PROXY protocol header (v1 or v2) where a connection starts (worker/proxy-protocol.ts). */
  proxyProtocol: boolean;
  /** Peers a PROXY header is accepted from, as `forwardedAllowIps`. */
  proxyAllowFrom: string[];
  /** Milliseconds a connection has, with --proxy-protocol, to send its PROXY header or its first bytes. */
  proxyProtocolTimeout: number;
  /** Absolute path of the PEM certificate (chain) served; undefined: plain HTTP. */
  certfile: string | undefined;
  /** Absolute path of its PEM private key; undefined: the key is in `certfile`. */
  keyfile: string | undefined;
  /** Absolute path of the PEM CA certificates client certificates are checked against. */
  caCerts: string | undefined;
  certReqs: CertReqs;
  /** Serve HTTP/2 (negotiated by ALPN) beside HTTP/1.1; needs TLS. */
  http2: boolean;
  /** The workers run as this user (config/accounts.ts), in its login group unless `group` is given. */
  user: Account | undefined;
  /** The workers run in this group. */
  group: Account | undefined;
  /** The workers get the user's supplementary groups, not only `group`. */
  initgroups: boolean;
  /** The umask of the unix socket files unicorn binds and of the workers; undefined keeps the one
   *  unicorn was started with. */
  umask: number | undefined;
  /** Each worker accepts on a SO_REUSEPORT socket of its own (arbiter/reuse-port.ts). */
  reusePort: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LogFormat = 'text' | 'json';

/** Gunicorn's access-log format, the default. */
export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

export type OptionKey = Exclude<keyof Settings, 'app'>;

/** What a setting parser gets besides the raw string. */
interface ParseContext {
  /** The directory relative paths are resolved against (after --chdir). */
  cwd: string;
}

/** A parser returns the value, or a string saying why the value is refused (beyond `accepted`). */
type Parser<T> = (raw: string, ctx: ParseContext) => T | { refused: string };

/**
 * One setting, declared once: the command line, the environment variables, `--help` and the
 * refusal messages all come from this entry.
 */
export interface SettingSpec<K extends OptionKey = OptionKey> {
  key: K;
  /** Commander's flag syntax, e.g. `-w, --workers <N>`. */
  flags: string;
  section: 'server' | 'tls' | 'privileges' | 'worker' | 'security' | 'recycling' | 'logging' | 'proxy' | 'control' | 'config' | 'development';
  description: string;
  /** What values are accepted, as refusals say it: "expected …". */
  accepted: string;
  /** An environment variable that supplies the value when the flag is absent. */
  env?: string;
  repeatable?: boolean;
  /** Every source adds to the list instead of the higher one replacing it (--hook). */
  additive?: boolean;
  /** A switch without a value (`--reload`); the config file gives it as true or false. */
  switch?: boolean;
  /** Also a `--no-…` flag, described so, which (like false in a config file) reaches the parser
   *  as "false". */
  negatable?: string;
  /** The config file cannot set it (what file to read, for one). */
  notInConfigFile?: string;
  parse: Parser<Settings[K] extends ReadonlyArray<infer E> ? E : Settings[K]>;
  /** The default, possibly derived from the environment (PORT for bind). */
  defaultValue: (env: NodeJS.ProcessEnv, ctx: ParseContext) => Settings[K];
  /** The environment variable the default is derived from when it is set: the value's source. */
  defaultEnv?: string;
  /** The default as --help shows it. */
  defaultText: string;
  /** Only meaningful with this worker class: setting it with the other one draws a warning. */
  onlyFor?: WorkerClass;
  /** The value as --print-config shows it, where String() would not do. */
  display?(value: NonNullable<Settings[K]>): string;
  /** What --print-config shows for no value, where `(none)` would not be true (a default that is
   *  settled only at start, such as the control socket's place). */
  unsetText?(env: NodeJS.ProcessEnv): string;
}

const wholeNumber =
  (min: number): Parser<number> =>
  (raw) => {
    const value = raw.trim();
    return /^\d+$/.test(value) && Number(value) >= min ? Number(value) : { refused: '' };
  };

const choice =
  <T extends string>(...choices: T[]): Parser<T> =>
  (raw) =>
    (choices as string[]).includes(raw) ? (raw as T) : { refused: '' };

/** A value named in `table`, in any case (Gunicorn's names and numbers beside ours). */
const fromTable =
  <T>(table: Record<string, T>): Parser<T> =>
  (raw) =>
    table[raw.trim().toLowerCase()] ?? { refused: '' };

const duration: Parser<number> = (raw) => parseDuration(raw) ?? { refused: '' };

export { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from './request-limits';

/** A whole number from `min` to `max`. */
const wholeNumberUpTo =
  (min: number, max: number): Parser<number> =>
  (raw, ctx) => {
    const value = wholeNumber(min)(raw, ctx);
    return typeof value === 'number' && value > max ? { refused: '' } : value;
  };

const size: Parser<number> = (raw) => parseSize(raw) ?? { refused: '' };

const existingFile: Parser<string | undefined> = (raw, ctx) => {
  const file = path.resolve(ctx.cwd, raw);
  const blocked = cannotEnter(path.dirname(file));
  if (blocked) return { refused: blocked };
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return { refused: `no such file: ${file}` };
  return stat.isFile() ? file : { refused: `not a file: ${file}` };
};

const nonEmpty: Parser<string> = (raw) => (raw.trim() === '' ? { refused: 'empty' } : raw.trim());

const pathOrGlob: Parser<string> = (raw) => {
  const value = raw.trim();
  if (value === '') return { refused: 'empty' };
  return isGlob(value) && !globToRegExp(value) ? { refused: 'a { is not closed by a }' } : value;
};

const yesNo: Parser<boolean> = (raw) => (raw === 'true' ? true : raw === 'false' ? false : { refused: '' });

const filePath: Parser<string | undefined> = (raw, ctx) => {
  if (raw.trim() === '') return { refused: 'empty' };
  const file = path.resolve(ctx.cwd, raw);
  const blocked = cannotEnter(path.dirname(file));
  if (blocked) return { refused: blocked };
  const dir = statSync(path.dirname(file), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) return { refused: `no such directory: ${path.dirname(file)}` };
  return file;
};

/** A file path, or '-' for a standard stream. */
const fileOrDash: Parser<string | undefined> = (raw, ctx) => (raw.trim() === '-' ? '-' : filePath(raw, ctx));

/** As fileOrDash, and the file (or, before it exists, its directory) can be written, and is not a
 *  directory: a log file that cannot be opened would otherwise fail the arbiter's start, or the
 *  workers' boot, after binding. */
const writableFileOrDash: Parser<string | undefined> = (raw, ctx) => {
  const file = fileOrDash(raw, ctx);
  if (typeof file !== 'string' || file === '-') return file;
  const existing = statSync(file, { throwIfNoEntry: false });
  const target = existing ? file : path.dirname(file);
  try {
    accessSync(target, fsConstants.W_OK);
  } catch {
    return { refused: `cannot write to ${target}` };
  }
  return existing?.isDirectory() ? { refused: `a directory: ${file}` } : file;
};

/** Gunicorn's atoms or 'json', compiled here only to refuse a bad one at startup, naming the atom. */
const accessFormat: Parser<string> = (raw) => {
  const format = raw.trim();
  if (format === '') return { refused: 'empty' };
  const compiled = compileAccessFormat(format);
  return typeof compiled === 'function' ? format : { refused: compiled.problem };
};

/** Trusted peers: addresses, networks or `*`, checked here so that a typo is refused at startup. */
const peerList: Parser<string> = (raw) => {
  const list = parsePeerList(raw);
  return typeof list === 'string' ? list : { refused: list.problem };
};

/** Gunicorn's level names are accepted beside pino's. */
const LOG_LEVELS: Record<string, LogLevel> = { debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'fatal', critical: 'fatal' };

const address: Parser<BindAddress> = (raw, ctx) => {
  const parsed = parseAddress(raw, ctx.cwd);
  return typeof parsed === 'string' ? { refused: parsed } : parsed;
};

const directory: Parser<string | undefined> = (raw, ctx) => {
  const dir = path.resolve(ctx.cwd, raw);
  // The directory itself too: unicorn changes into it.
  const blocked = cannotEnter(dir);
  if (blocked) return { refused: blocked };
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) return { refused: 'no such directory' };
  return stat.isDirectory() ? dir : { refused: 'not a directory' };
};

const user: Parser<Account | undefined> = (raw) => lookupUser(raw);
const group: Parser<Account | undefined> = (raw) => lookupGroup(raw);
const umask: Parser<number | undefined> = (raw) => parseUmask(raw) ?? { refused: '' };

/** --reuse-port needs a Node and a system that have it; false is always accepted. */
const reusePort: Parser<boolean> = (raw, ctx) => {
  const value = yesNo(raw, ctx);
  const problem = value === true ? reusePortProblem() : undefined;
  return problem ? { refused: problem } : value;
};

/** `PORT` (the PaaS convention) moves the default bind to every interface on that port. */
const defaultBind = (env: NodeJS.ProcessEnv): BindAddress[] => {
  if (env.PORT === undefined || env.PORT === '') return [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }];
  const port = env.PORT.trim();
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw badValue('PORT', env.PORT, 'a port number (0 to 65535)');
  return [{ kind: 'tcp', host: '0.0.0.0', port: Number(port) }];
};

/** Gunicorn's cert_reqs is the number of Python's ssl.CERT_* constant: 0, 1 or 2. */
const CERT_REQS: Record<string, CertReqs> = { none: 'none', optional: 'optional', required: 'required', '0': 'none', '1': 'optional', '2': 'required' };

/** What every switch (--reload, --capture-output) has in common: off unless given. */
const OFF_SWITCH = { accepted: 'true or false', switch: true, parse: yesNo, defaultValue: () => false, defaultText: 'off' } as const;

function spec<K extends OptionKey>(s: SettingSpec<K>): SettingSpec<K> {
  return s;
}

/** Every setting unicorn has, in the order --help lists them. */
export const SETTINGS = [
  spec({
    key: 'workers',
    flags: '-w, --workers <N>',
    section: 'worker',
    description: 'number of worker processes',
    accepted: 'a whole number of at least 1',
    env: 'WEB_CONCURRENCY',
    parse: wholeNumber(1),
    defaultValue: () => 1,
    defaultText: '$WEB_CONCURRENCY, else 1',
  }),
  spec({
    key: 'bind',
    flags: '-b, --bind <ADDRESS>',
    section: 'server',
    description: `address to listen at, repeatable: ${ADDRESS_FORMS}`,
    accepted: ADDRESS_FORMS,
    repeatable: true,
    parse: address,
    defaultValue: defaultBind,
    defaultEnv: 'PORT',
    defaultText: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set',
  }),
  spec({
    key: 'backlog',
    flags: '--backlog <N>',
    section: 'server',
    description: 'connections the kernel queues for each listener before refusing more',
    accepted: 'a whole number of at least 1',
    parse: wholeNumber(1),
    defaultValue: () => 2048,
    defaultText: '2048',
  }),
  spec({
    key: 'certfile',
    flags: '--certfile <FILE>',
    section: 'tls',
    description: 'serve HTTPS with this PEM certificate (the certificate first, then its intermediates); read again on HUP',
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'none (plain HTTP)',
  }),
  spec({
    key: 'keyfile',
    flags: '--keyfile <FILE>',
    section: 'tls',
    description: "the certificate's PEM private key, unencrypted; read again on HUP",
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'the key in --certfile',
  }),
  spec({
    key: 'caCerts',
    flags: '--ca-certs <FILE>',
    section: 'tls',
    description: 'PEM CA certificates a client certificate must be signed by (see --cert-reqs); read again on HUP',
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'certReqs',
    flags: '--cert-reqs <MODE>',
    section: 'tls',
    description: 'client certificates: none (not asked for), optional (asked for; one given must be signed by --ca-certs) or required (a connection without one is refused)',
    accepted: "none, optional or required (or Gunicorn's 0, 1 or 2)",
    parse: fromTable(CERT_REQS),
    defaultValue: () => 'none' as const,
    defaultText: 'none',
  }),
  spec({
    key: 'http2',
    flags: '--http2',
    section: 'tls',
    description: 'serve HTTP/2 to clients that ask for it in the TLS handshake (ALPN), HTTP/1.1 to the others; needs --certfile',
    ...OFF_SWITCH,
  }),
  spec({
    key: 'workerClass',
    flags: '-k, --worker-class <CLASS>',
    section: 'worker',
    description: 'sync: one request at a time, Connection: close; async: concurrent requests with keep-alive',
    accepted: 'sync or async',
    parse: choice<WorkerClass>('sync', 'async'),
    defaultValue: () => 'sync' as const,
    defaultText: 'sync',
  }),
  spec({
    key: 'workerConnections',
    flags: '--worker-connections <N>',
    section: 'worker',
    description:
      'async only: open connections per worker; past it new connections wait in the backlog, and each response closes its connection so that they take turns. Each connection is a file descriptor: ' +
      'a worker takes at most the open-file limit (ulimit -n) less 64, and the arbiter warns at start when that is fewer',
    accepted: 'a whole number of at least 1',
    onlyFor: 'async',
    parse: wholeNumber(1),
    defaultValue: () => 1000,
    defaultText: '1000',
  }),
  spec({
    key: 'keepAlive',
    flags: '--keep-alive <DURATION>',
    section: 'worker',
    description: 'async only: how long an idle keep-alive connection is kept open',
    accepted: DURATION_FORMS,
    onlyFor: 'async',
    parse: duration,
    defaultValue: () => 5000,
    defaultText: '5s',
  }),
  spec({
    key: 'timeout',
    flags: '-t, --timeout <DURATION>',
    section: 'worker',
    description: 'a worker silent for longer than this is killed and replaced, its stack logged; sync: also the limit of one request; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'workerBootTimeout',
    flags: '--worker-boot-timeout <DURATION>',
    section: 'worker',
    description: 'a worker that has not loaded the app and started serving by then is killed; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 60_000,
    defaultText: '60s',
  }),
  spec({
    key: 'bootAttempts',
    flags: '--boot-attempts <N>',
    section: 'worker',
    description:
      'boot attempts in a row that may time out (--worker-boot-timeout) before the server stops with exit code 3, naming what the app waits on, while no worker has been ready yet; once one has been, boot timeouts are retried with backoff; 0 retries for ever',
    accepted: 'a whole number (0 for no limit)',
    parse: wholeNumber(0),
    defaultValue: () => 3,
    defaultText: '3',
  }),
  spec({
    key: 'gracefulTimeout',
    flags: '--graceful-timeout <DURATION>',
    section: 'worker',
    description: 'on a graceful stop, how long in-flight requests may take before workers are killed',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'limitRequestLine',
    flags: '--limit-request-line <BYTES>',
    section: 'security',
    description: 'the longest request line (method, target and version) a request may have; a longer one is answered 414; 0 for no limit of its own',
    accepted: `a whole number from 0 (no limit) to ${MAX_REQUEST_LINE}`,
    parse: wholeNumberUpTo(0, MAX_REQUEST_LINE),
    defaultValue: () => 4094,
    defaultText: '4094',
  }),
  spec({
    key: 'limitRequestFields',
    flags: '--limit-request-fields <N>',
    section: 'security',
    description: `the most header fields a request may have; more are answered 431; 0 for the most there can be, ${MAX_REQUEST_FIELDS}`,
    accepted: `a whole number from 0 to ${MAX_REQUEST_FIELDS}`,
    parse: wholeNumberUpTo(0, MAX_REQUEST_FIELDS),
    defaultValue: () => 100,
    defaultText: '100',
  }),
  spec({
    key: 'limitRequestFieldSize',
    flags: '--limit-request-field-size <SIZE>',
    section: 'security',
    description: 'the longest header field line (`Name: value` and its line end) a request may have; a longer one is answered 431; 0 for no limit of its own',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 8190,
    defaultText: '8190',
  }),
  spec({
    key: 'limitRequestBody',
    flags: '--limit-request-body <SIZE>',
    section: 'security',
    description: 'the largest request body: a longer Content-Length is answered 413 before the app sees the request, a chunked body is cut off with 413 where it passes the limit; 0 for no limit',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 0,
    defaultText: '0 (no limit)',
  }),
  spec({
    key: 'headerTimeout',
    flags: '--header-timeout <DURATION>',
    section: 'security',
    description: "how long a client may take to send a request's line and headers, from its first byte (from the connection, for the first request); past it the request is answered 408 and its connection closed; with TLS, also how long the handshake may take; 0 disables",
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 10_000,
    defaultText: '10s',
  }),
  spec({
    key: 'maxRequests',
    flags: '--max-requests <N>',
    section: 'recycling',
    description: 'replace a worker after it has served this many requests; 0 for no limit',
    accepted: 'a whole number (0 for no limit)',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxRequestsJitter',
    flags: '--max-requests-jitter <N>',
    section: 'recycling',
    description: 'add up to this many requests, at random per worker, to --max-requests',
    accepted: 'a whole number',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerMemory',
    flags: '--max-worker-memory <SIZE>',
    section: 'recycling',
    description:
      'replace a worker whose resident memory passes this size (read by the arbiter every 100 ms: it stops accepting at once and drains; ' +
      'growing by a quarter of the limit more meanwhile gets it killed); 0 for no limit',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetime',
    flags: '--max-worker-lifetime <DURATION>',
    section: 'recycling',
    description: 'replace a worker after it has run this long; 0 for no limit',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetimeJitter',
    flags: '--max-worker-lifetime-jitter <DURATION>',
    section: 'recycling',
    description: 'add up to this long, at random per worker, to --max-worker-lifetime',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'reusePort',
    flags: '--reuse-port',
    section: 'server',
    description: 'give each worker a SO_REUSEPORT socket of its own on every TCP address, which the kernel balances connections over (docs/os.md)',
    ...OFF_SWITCH,
    parse: reusePort,
  }),
  spec({
    key: 'pid',
    flags: '-p, --pid <FILE>',
    section: 'server',
    description: "write the arbiter's pid to this file; refuse to start while it names a running process",
    accepted: 'a file path in an existing directory',
    parse: filePath,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'chdir',
    flags: '--chdir <DIR>',
    section: 'server',
    description: 'change to this directory before loading the app',
    accepted: 'an existing directory',
    parse: directory,
    defaultValue: () => undefined,
    defaultText: 'the current directory',
  }),
  spec({
    key: 'user',
    flags: '-u, --user <USER>',
    section: 'privileges',
    description: 'run the workers as this user, by name or uid, once the arbiter has bound the sockets; needs root',
    accepted: 'a user name or uid',
    parse: user,
    defaultValue: () => undefined,
    defaultText: "the arbiter's",
    display: accountName,
  }),
  spec({
    key: 'group',
    flags: '-g, --group <GROUP>',
    section: 'privileges',
    description: 'run the workers in this group, by name or gid',
    accepted: 'a group name or gid',
    parse: group,
    defaultValue: () => undefined,
    defaultText: "the --user's login group, else the arbiter's",
    display: accountName,
  }),
  spec({
    key: 'initgroups',
    flags: '--initgroups',
    section: 'privileges',
    description: "give the workers the --user's supplementary groups from the group database, not only --group",
    ...OFF_SWITCH,
  }),
  spec({
    key: 'umask',
    flags: '-m, --umask <MASK>',
    section: 'privileges',
    description: 'the file mode mask of the unix socket files unicorn binds and of the workers (files the app creates)',
    accepted: 'a mask of at most 0777: octal with a leading 0 (0022, 0o22), hexadecimal (0x12) or decimal (18)',
    parse: umask,
    defaultValue: () => undefined,
    defaultText: 'the umask unicorn starts with',
    display: formatUmask,
  }),
  spec({
    key: 'interface',
    flags: '--interface <KIND>',
    section: 'worker',
    description: 'the handler shape: node (req, res), fetch (Request => Response), or auto-detect',
    accepted: 'auto, node or fetch',
    parse: choice<HandlerInterface>('auto', 'node', 'fetch'),
    defaultValue: () => 'auto' as const,
    defaultText: 'auto',
  }),
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
  spec({
    key: 'errorLogfile',
    flags: '--error-logfile <PATH>',
    section: 'logging',
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
  spec({
    key: 'controlSocket',
    flags: '--control-socket <PATH>',
    section: 'control',
    description: 'the unix socket `unicorn ctl` talks to (mode 0600); --no-control-socket for none',
    accepted: 'a socket path in an existing directory, or false (--no-control-socket) for none',
    negatable: 'run no control socket',
    parse: (raw, ctx) => {
      if (raw.trim() === 'false') return false;
      const file = filePath(raw, ctx);
      const problem = typeof file === 'string' ? socketPathProblem(file) : undefined;
      return problem ? { refused: problem } : file;
    },
    defaultValue: () => undefined,
    defaultText: '$XDG_RUNTIME_DIR/unicorn/PID.sock, else /tmp/unicorn-UID/PID.sock',
    // The arbiter's pid is known only once it runs.
    unsetText: (env) => defaultControlSocket(defaultControlDir(env), 'PID'),
    display: (value) => (value === false ? '(none)' : value),
  }),
  spec({
    key: 'forwardedAllowIps',
    flags: '--forwarded-allow-ips <LIST>',
    section: 'proxy',
    description:
      'peers whose X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded headers set the client address, scheme and host the app and the access log see (docs/proxies.md); peers on a unix socket too, unless the list is empty; repeatable',
    accepted: PEER_LIST_FORMS,
    env: 'FORWARDED_ALLOW_IPS',
    repeatable: true,
    parse: peerList,
    defaultValue: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
  }),
  spec({
    key: 'proxyProtocol',
    flags: '--proxy-protocol',
    section: 'proxy',
    description:
      'read a PROXY protocol header (v1 or v2, as HAProxy and cloud load balancers send it) where a connection from a --proxy-allow-from peer starts; its address becomes the client address',
    ...OFF_SWITCH,
  }),
  spec({
    key: 'proxyAllowFrom',
    flags: '--proxy-allow-from <LIST>',
    section: 'proxy',
    description: 'with --proxy-protocol, the peers a PROXY header is accepted from; one from any other peer closes the connection; peers on a unix socket too, unless the list is empty; repeatable',
    accepted: PEER_LIST_FORMS,
    repeatable: true,
    parse: peerList,
    defaultValue: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
  }),
  spec({
    key: 'proxyProtocolTimeout',
    flags: '--proxy-protocol-timeout <DURATION>',
    section: 'proxy',
    description: 'with --proxy-protocol, how long a new connection has to send its PROXY header (or, without one, its first bytes) before it is closed',
    accepted: `${DURATION_FORMS}, more than 0`,
    parse: (raw, ctx) => {
      const value = duration(raw, ctx);
      return value === 0 ? { refused: 'a connection cannot be given no time' } : value;
    },
    defaultValue: () => 10_000,
    defaultText: '10s',
  }),
] as const satisfies readonly SettingSpec[];

/** The raw values one source gave, keyed by setting: strings (arrays for repeatable settings, true
 *  for a switch) from a command line, anything at all from a config file. */
export type RawOptions = Partial<Record<OptionKey, unknown>>;

/**
 * One source of settings. Sources are applied lowest first: defaults (with PORT and
 * WEB_CONCURRENCY) < config file < UNICORN_CMD_ARGS < command line.
 */
export interface Layer {
  /** How a value from it is named in messages, before the flag or key: '' for the command line,
   *  'UNICORN_CMD_ARGS: ', 'unicorn.config.mjs: '. */
  label: string;
  /** Flags (--workers) or config-file keys (workers). */
  names: 'flags' | 'keys';
  values: RawOptions;
}

/** Where a setting's value came from: the flag, key or variable that gave it, or "default". */
export type Sources = Record<OptionKey, string>;

export interface Resolved {
  settings: Settings;
  sources: Sources;
}

/** The app as a source gave it, and which source. */
export interface AppSource {
  raw: string;
  source: string;
}

export const longFlag = (setting: SettingSpec): string => /--[\w-]+/.exec(setting.flags)![0];

/**
 * Apply the sources in order, lowest first, and refuse the first bad value with a message naming
 * its source, the value and what is accepted.
 */
export function resolveLayers(app: AppSource | undefined, layers: Layer[], env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Resolved {
  const ctx: ParseContext = { cwd };
  const values: Partial<Record<OptionKey, unknown>> = {};
  const sources: Partial<Sources> = {};
  // --chdir first: relative paths in the other settings are relative to it.
  const ordered = [...SETTINGS].sort((a, b) => Number(b.key === 'chdir') - Number(a.key === 'chdir'));
  for (const setting of ordered as SettingSpec[]) {
    const given: Array<{ source: string; raws: string[] }> = [];
    for (const layer of layers) {
      const value = layer.values[setting.key];
      if (value === undefined) continue;
      const flag = value === false && setting.negatable ? longFlag(setting).replace('--', '--no-') : longFlag(setting);
      const source = `${layer.label}${layer.names === 'flags' ? flag : setting.key}`;
      given.push({ source, raws: layer.names === 'flags' ? flagRaws(value) : configRaws(setting, value, source) });
    }
    const fromEnv = setting.env !== undefined ? env[setting.env] : undefined;
    let value: unknown;
    if (given.length > 0) {
      const used = setting.additive ? given : given.slice(-1);
      const parsed = used.flatMap(({ source, raws }) => raws.map((raw) => parseOne(setting, raw, source, ctx)));
      value = setting.repeatable ? parsed : parsed[parsed.length - 1];
      sources[setting.key] = used.map((g) => g.source).join(' + ');
    } else if (fromEnv !== undefined && fromEnv !== '') {
      const parsed = parseOne(setting, fromEnv, setting.env!, ctx);
      value = setting.repeatable ? [parsed] : parsed;
      sources[setting.key] = setting.env!;
    } else {
      value = setting.defaultValue(env, ctx);
      sources[setting.key] = setting.defaultEnv !== undefined && env[setting.defaultEnv] ? setting.defaultEnv : 'default';
    }
    values[setting.key] = value;
    if (setting.key === 'chdir' && typeof value === 'string') ctx.cwd = value;
  }

  if (!app) {
    throw badUsage(`no app given: name it on the command line as ${APP_SPEC_FORMS}, or as \`app\` in a config file`);
  }
  const spec = parseAppSpec(app.raw);
  if (typeof spec === 'string') {
    const name = app.source === 'command line' ? 'the app' : `${app.source}`;
    throw badUsage(`${name} ${JSON.stringify(app.raw)} is not accepted: ${spec}; expected ${APP_SPEC_FORMS}`);
  }
  return { settings: { ...(values as Omit<Settings, 'app'>), app: spec }, sources: sources as Sources };
}

/** The command line alone (with the environment's defaults): tests and simple callers. */
export function resolveSettings(appArg: string, flags: RawOptions, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Resolved {
  return resolveLayers({ raw: appArg, source: 'command line' }, [{ label: '', names: 'flags', values: flags }], env, cwd);
}

/** Commander gives a string, a list of them for a repeatable flag, or true for a switch. */
const flagRaws = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [String(value)]);

/** A config file may give numbers and booleans where a flag gives strings, and lists for
 *  repeatable settings; anything else is refused here, by the same message a bad string gets. */
function configRaws(setting: SettingSpec, value: unknown, source: string): string[] {
  const one = (item: unknown): string => {
    if (typeof item === 'string') return item;
    if (typeof item === 'number' && Number.isFinite(item)) return String(item);
    if (typeof item === 'boolean' && setting.switch) return String(item);
    if (item === false && setting.negatable) return 'false';
    const also = setting.repeatable ? ', or a list of them' : '';
    throw badValue(source, item, `${setting.accepted}${also}`);
  };
  if (Array.isArray(value)) {
    if (!setting.repeatable) throw badValue(source, value, setting.accepted);
    return value.map(one);
  }
  return [one(value)];
}

/** Settings given for a worker class other than the one in use: they have no effect. */
export function inapplicable({ settings, sources }: Resolved): string[] {
  return SETTINGS.filter(
    (s) => 'onlyFor' in s && s.onlyFor !== settings.workerClass && sources[s.key] !== 'default',
  ).map((s) => `${sources[s.key]} applies to the ${(s as SettingSpec).onlyFor} worker class only; with ${settings.workerClass} it has no effect`);
}

/** One value of one setting, refused as any other source's would be. */
export function parseSetting(key: OptionKey, raw: string, source: string, cwd: string): unknown {
  return parseOne((SETTINGS as readonly SettingSpec[]).find((s) => s.key === key)!, raw, source, { cwd });
}

function parseOne(setting: SettingSpec, raw: string, source: string, ctx: ParseContext): unknown {
  const parsed = setting.parse(raw, ctx);
  if (typeof parsed === 'object' && parsed !== null && 'refused' in parsed) {
    const why = parsed.refused ? ` (${parsed.refused})` : '';
    throw badValue(source, raw, `${setting.accepted}${why}`);
  }
  return parsed;
}

/** What --print-config shows besides the settings: the config file's plugins, and the environment
 *  defaults are settled in. */
export interface DescribeOptions {
  /** The config file's `plugins` as it names them, and its label for the source. */
  plugins?: { names: string[]; source: string };
  env?: NodeJS.ProcessEnv;
}

/**
 * The effective settings as `--print-config` shows them: one line each, with the value in the
 * form a flag takes and where it came from. The config file's plugins come before --hook's, the
 * order they load in.
 */
export function describeSettings({ settings, sources }: Resolved, appSource: string, options: DescribeOptions = {}): string {
  const { plugins, env = process.env } = options;
  const rows: Array<[string, string, string]> = [['app', settings.app.raw, appSource]];
  for (const setting of SETTINGS as readonly SettingSpec[]) {
    if (setting.key === 'hook') rows.push(['plugins', plugins?.names.join(' ') || '(none)', plugins?.source ?? 'default']);
    rows.push([setting.key, display(setting, settings[setting.key], env), sources[setting.key]]);
  }
  const width = (column: 0 | 1) => Math.max(...rows.map((row) => row[column].length));
  return rows.map(([key, value, source]) => `${key.padEnd(width(0))}  ${value.padEnd(width(1))}  ${source}`).join('\n') + '\n';
}

function display(setting: SettingSpec, value: unknown, env: NodeJS.ProcessEnv): string {
  if (value === undefined && setting.unsetText) return setting.unsetText(env);
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return '(none)';
  if (setting.display) return (setting.display as (value: unknown) => string)(value);
  if (setting.accepted === ADDRESS_FORMS) return (value as BindAddress[]).map(formatAddress).join(' ');
  if (setting.accepted.startsWith(DURATION_FORMS)) return value === 0 ? '0' : formatDuration(value as number);
  if (setting.accepted === SIZE_FORMS) return value === 0 ? '0' : formatSizeExactly(value as number);
  if (setting.accepted === PEER_LIST_FORMS) return (value as string[]).filter(Boolean).join(',') || '(none)';
  if (Array.isArray(value)) return value.join(' ');
  return String(value);
}
