/**
 * `PREFIX=MODULE[:EXPORT]` (--mount) and `PREFIX=DIR` (--static): where on the URL path an app or a
 * directory of files is served. A prefix is a path of whole segments: `/api` serves `/api` and
 * `/api/x`, never `/apis`.
 */
import path from 'node:path';
import { type AppSpec, parseAppSpec } from './app-spec';

/** An app served under a path prefix ('/' for the app at the root). */
export interface Mount {
  prefix: string;
  app: AppSpec;
}

/** A directory whose files are served under a path prefix. */
export interface StaticDir {
  prefix: string;
  /** Absolute. */
  dir: string;
}

export const PREFIX_FORM = 'a path such as /api: a slash, then segments of letters, digits and - . _ ~ (no . or .. segment)';
export const MOUNT_FORMS = `PREFIX=MODULE[:EXPORT], as in /api=api.js:app, where PREFIX is ${PREFIX_FORM}`;
export const STATIC_FORMS = `PREFIX=DIR, as in /assets=public, where PREFIX is ${PREFIX_FORM}`;

/** Characters a segment may hold: RFC 3986's unreserved set and the sub-delimiters a path keeps as
 *  written, so that a prefix matches the request target byte for byte, with no decoding. */
const SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;

/** The prefix as written, with a trailing slash dropped ('/api/' is '/api'); or what is wrong. */
export function parsePrefix(raw: string): string | { refused: string } {
  const prefix = raw.trim();
  if (!prefix.startsWith('/')) return { refused: `the prefix ${JSON.stringify(prefix)} does not start with /` };
  if (prefix === '/') return prefix;
  const segments = prefix.slice(1).replace(/\/$/, '').split('/');
  for (const segment of segments) {
    if (segment === '') return { refused: `the prefix ${JSON.stringify(prefix)} has an empty segment` };
    if (segment === '.' || segment === '..') return { refused: `the prefix ${JSON.stringify(prefix)} has a ${segment} segment` };
    if (!SEGMENT.test(segment)) {
      return { refused: `the prefix ${JSON.stringify(prefix)} has a character a path segment cannot hold as written` };
    }
  }
  return `/${segments.join('/')}`;
}

/** Split `PREFIX=VALUE` at its first `=`. */
function split(raw: string): { prefix: string; value: string } | { refused: string } {
  const eq = raw.indexOf('=');
  if (eq === -1) return { refused: 'there is no = between the prefix and what is served there' };
  const prefix = parsePrefix(raw.slice(0, eq));
  if (typeof prefix !== 'string') return prefix;
  const value = raw.slice(eq + 1).trim();
  return value === '' ? { refused: `nothing is named after ${prefix}=` } : { prefix, value };
}

export function parseMount(raw: string): Mount | { refused: string } {
  const parts = split(raw);
  if ('refused' in parts) return parts;
  const app = parseAppSpec(parts.value);
  if (typeof app === 'string') return { refused: `the app ${JSON.stringify(parts.value)}: ${app}` };
  // Messages about the app (it failed to load, it is no handler) name the mount it was given for.
  return { prefix: parts.prefix, app: { ...app, raw: `${parts.prefix}=${app.raw}` } };
}

/** `dir` is resolved against `cwd`; whether it is a directory is the caller's to check. */
export function parseStatic(raw: string, cwd: string): StaticDir | { refused: string } {
  const parts = split(raw);
  if ('refused' in parts) return parts;
  return { prefix: parts.prefix, dir: path.resolve(cwd, parts.value) };
}

/** The first two entries given for one prefix, if any: two apps (or two directories) at one prefix cannot both serve it. */
export function repeatedPrefix<T extends { prefix: string }>(entries: ReadonlyArray<T>): [T, T] | undefined {
  const seen = new Map<string, T>();
  for (const entry of entries) {
    const first = seen.get(entry.prefix);
    if (first) return [first, entry];
    seen.set(entry.prefix, entry);
  }
  return undefined;
}

/** Every app served, the one at / (if any) first. */
export function appMounts(settings: { app: AppSpec | undefined; mounts: Mount[] }): Mount[] {
  return settings.app ? [{ prefix: '/', app: settings.app }, ...settings.mounts] : settings.mounts;
}
