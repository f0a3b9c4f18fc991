/**
 * The access log's line format: Gunicorn's atoms (`%(h)s %(r)s %(s)s`, `%({x-request-id}i)s`) or
 * `json`, compiled once into a function from a finished request to its line, so that a request
 * costs no parsing of the format. The settings parser compiles it to refuse a bad format before
 * anything is bound; each worker compiles it again to log with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request as the access log sees it once its response has closed. */
export interface AccessRecord {
  /** undefined: Node's parser rejected the request, and it was answered without reaching the app. */
  req: IncomingMessage | undefined;
  res: ServerResponse | undefined;
  /** The method and target as the request arrived: an app may rewrite `req.url` and `req.method`
   *  while it handles the request (Express strips a router's mount path from `req.url`, and a
   *  method override replaces `req.method`). undefined with `req`. */
  method: string | undefined;
  url: string | undefined;
  remoteAddress: string | undefined;
  status: number;
  /** Body bytes the response wrote (headers not counted, as in Gunicorn and Apache). */
  bytes: number;
  /** When the request arrived, epoch milliseconds. */
  startedAt: number;
  /** Milliseconds from its arrival to its response's close, with the fraction. */
  duration: number;
  /** The connection closed before the whole response was written (the client went away). */
  aborted: boolean;
  /** Response headers given to writeHead alone, which `getHeader` does not see. */
  headHeaders: unknown;
  /** The mount that served it (`/api`, `static:/assets`): undefined when none did. */
  mount: string | undefined;
}

/** Compiled: one record to one line, newline included. */
export type AccessFormatter = (record: AccessRecord) => string;

/** The setting's value that asks for one JSON object per request. */
export const JSON_FORMAT = 'json';

type Atom = (record: AccessRecord) => string;

/** The atoms by name, with Gunicorn's meaning (docs/logging.md has the table). */
const ATOMS: Record<string, Atom> = {
  h: (r) => r.remoteAddress ?? '-',
  l: () => '-',
  u: (r) => {
    const user = basicAuthUser(r.req);
    return user === undefined ? '-' : escapeField(user);
  },
  t: (r) => clfTime(r.startedAt),
  r: (r) => (r.req ? escapeField(`${r.method} ${r.url} HTTP/${r.req.httpVersion}`) : '-'),
  m: (r) => (r.method === undefined ? '-' : escapeField(r.method)),
  U: (r) => (r.url === undefined ? '-' : escapeField(pathOf(r.url))),
  q: (r) => (r.url === undefined ? '-' : escapeField(queryOf(r.url))),
  H: (r) => (r.req ? `HTTP/${r.req.httpVersion}` : '-'),
  s: (r) => String(r.status),
  B: (r) => String(r.bytes),
  b: (r) => (r.bytes === 0 ? '-' : String(r.bytes)),
  f: (r) => requestHeader(r.req, 'referer'),
  a: (r) => requestHeader(r.req, 'user-agent'),
  T: (r) => String(Math.floor(r.duration / 1000)),
  M: (r) => String(Math.floor(r.duration)),
  D: (r) => String(Math.floor(r.duration * 1000)),
  L: (r) => decimalSeconds(r.duration),
  mount: (r) => r.mount ?? '-',
};

/** Every atom a format may use, as a refusal lists them. */
export const ATOM_NAMES = [...Object.keys(ATOMS), 'p', '{header}i', '{header}o'];

/** What a refusal says is accepted, after naming the problem. */
const ACCEPTED_ATOMS = `the atoms are ${ATOM_NAMES.map((name) => `%(${name})s`).join(' ')}, and %% is a percent sign`;

/** A header name as HTTP allows it (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Compile a format, or say what is wrong with it: an unknown atom, a `%` that starts no atom, an
 * atom that is not closed or is not a string (`%(s)d`). Gunicorn fills an unknown atom with '-'
 * without a word; here a typo is refused at startup rather than logging dashes for ever.
 */
export function compileAccessFormat(format: string): AccessFormatter | { problem: string } {
  if (format === JSON_FORMAT) return jsonLine;
  const parts: Atom[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') {
      literal += c;
      continue;
    }
    if (format[i + 1] === '%') {
      literal += '%';
      i++;
      continue;
    }
    if (format[i + 1] !== '(') {
      return { problem: `the % at character ${i + 1} starts no atom; write atoms as %(h)s, and a percent sign as %%` };
    }
    const close = format.indexOf(')', i + 2);
    if (close === -1) return { problem: `the atom at character ${i + 1} has no closing parenthesis` };
    const name = format.slice(i + 2, close);
    if (format[close + 1] !== 's') {
      return { problem: `%(${name}) must be followed by s, as in %(${name})s (every atom is text)` };
    }
    const atom = atomFor(name);
    if (!atom) return { problem: `unknown atom %(${name})s; ${ACCEPTED_ATOMS}` };
    if (literal) parts.push(constant(literal));
    literal = '';
    parts.push(atom);
    i = close + 1;
  }
  if (literal) parts.push(constant(literal));
  return (record) => {
    let line = '';
    for (let i = 0; i < parts.length; i++) line += parts[i]!(record);
    return `${line}\n`;
  };
}

function atomFor(name: string): Atom | undefined {
  if (Object.hasOwn(ATOMS, name)) return ATOMS[name];
  // The worker's pid, fixed when the worker compiles the format (Gunicorn's `<pid>` form).
  if (name === 'p') return constant(`<${process.pid}>`);
  const header = /^\{(.+)\}([io])$/.exec(name);
  if (!header || !HEADER_NAME.test(header[1]!)) return undefined;
  const lower = header[1]!.toLowerCase();
  return header[2] === 'i' ? (r) => requestHeader(r.req, lower) : (r) => responseHeader(r, lower);
}

const constant =
  (text: string): Atom =>
  () =>
    text;

/**
 * One JSON object per request: the same facts as the atoms, typed, null where absent. Written out
 * by hand, the keys fixed and only strings passed through JSON.stringify: half the time of
 * stringifying an object.
 */
function jsonLine(r: AccessRecord): string {
  const req = r.req;
  return (
    `{"time":"${isoTime(r.startedAt)}","pid":${process.pid},"remoteAddr":${jsonText(r.remoteAddress)},` +
    `"user":${jsonText(basicAuthUser(req))},"method":${jsonText(r.method)},"url":${jsonText(r.url)},` +
    `"protocol":${req ? `"HTTP/${req.httpVersion}"` : 'null'},"status":${r.status},"bytes":${r.bytes},` +
    `"durationMs":${Math.round(r.duration * 1000) / 1000},"referer":${jsonText(headerText(req?.headers.referer))},` +
    `"userAgent":${jsonText(headerText(req?.headers['user-agent']))},"mount":${jsonText(r.mount)},"aborted":${r.aborted}}\n`
  );
}

const jsonText = (text: string | undefined): string => (text === undefined ? 'null' : JSON.stringify(text));

/** The millisecond `isoText` shows: requests that finish together share it. */
let isoMillisecond = NaN;
let isoText = '';

function isoTime(epochMs: number): string {
  const ms = Math.floor(epochMs);
  if (ms !== isoMillisecond) {
    isoMillisecond = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

function requestHeader(req: IncomingMessage | undefined, name: string): string {
  const value = headerText(req?.headers[name]);
  return value === undefined ? '-' : escapeField(value);
}

function responseHeader(r: AccessRecord, name: string): string {
  let value: unknown = r.res?.getHeader(name);
  if (value === undefined && r.headHeaders) value = headHeader(r.headHeaders, name);
  const text = headerText(value);
  return text === undefined ? '-' : escapeField(text);
}

/** A header given to `writeHead(status, headers)`: an object, or a flat [name, value, …] list. */
function headHeader(headers: unknown, lowerName: string): unknown {
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length - 1; i += 2) if (String(headers[i]).toLowerCase() === lowerName) return headers[i + 1];
    return undefined;
  }
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lowerName) return (headers as Record<string, unknown>)[key];
  return undefined;
}

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** The user name of `Authorization: Basic …`, as Gunicorn's `u` gives it; undefined without one. */
function basicAuthUser(req: IncomingMessage | undefined): string | undefined {
  const auth = req?.headers.authorization;
  if (auth === undefined || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user === '' ? undefined : user;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Without the `?`; empty when there is none, as Gunicorn's (WSGI's QUERY_STRING) is. */
function queryOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? '' : url.slice(query + 1);
}

/** Gunicorn's `L`: seconds with six decimals, the same microseconds `D` counts. */
function decimalSeconds(ms: number): string {
  const micros = Math.floor(ms * 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** The second `clfText` shows: consecutive requests mostly fall in the same second. */
let clfSecond = NaN;
let clfText = '';

/** Common Log Format's date in local time, `[10/Oct/2000:13:55:36 -0700]`. */
function clfTime(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (second === clfSecond) return clfText;
  const d = new Date(second * 1000);
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}${two(Math.abs(offset) % 60)}`;
  clfSecond = second;
  clfText = `[${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${zone}]`;
  return clfText;
}

/**
 * Text from the client (or the app's headers) as it goes in a line: `"` and `\` escaped with a
 * backslash and anything outside printable ASCII as `\xhh`, byte by byte, as Apache writes it
 * (Gunicorn escapes `"` only), so that no request can end a line early or forge one. Text that
 * needs nothing, nearly all of it, is returned as it is after one scan.
 */
export function escapeField(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return escapeFrom(text, i);
  }
  return text;
}

function escapeFrom(text: string, start: number): string {
  let out = text.slice(0, start);
  for (const char of text.slice(start)) {
    const c = char.codePointAt(0)!;
    if (c === 0x22 || c === 0x5c) out += `\\${char}`;
    else if (c >= 0x20 && c <= 0x7e) out += char;
    // Node gives header bytes as latin1 characters (one each); others are encoded as UTF-8.
    else for (const byte of c <= 0xff ? [c] : Buffer.from(char, 'utf8')) out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}
