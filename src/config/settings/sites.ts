/** Apps and static files: what is served under which path prefix (docs/mounts.md). */

import { DURATION_FORMS } from '../duration';
import { MOUNT_FORMS, type Mount, parseMount, parseStatic, STATIC_FORMS, type StaticDir } from '../mount-spec';
import { formatSizeExactly } from '../size';
import { choice, directory, duration, OFF_SWITCH, size, yesNo } from './parsers';
import { type Parser, spec } from './spec';

const mount: Parser<Mount> = (raw) => parseMount(raw);

const staticDir: Parser<StaticDir> = (raw, ctx) => {
  const entry = parseStatic(raw, ctx.cwd);
  if ('refused' in entry) return entry;
  const dir = directory(entry.dir, ctx);
  return typeof dir === 'string' ? { prefix: entry.prefix, dir } : { refused: `${entry.dir}: ${dir?.refused}` };
};

/** Kept as written (settings cross to the workers as JSON); compiled there. */
const regex: Parser<string | undefined> = (raw) => {
  try {
    new RegExp(raw);
    return raw;
  } catch (err) {
    return { refused: (err as Error).message };
  }
};

/** The sites section. */
export const SITES_SETTINGS = [
  spec({
    key: 'mounts',
    flags: '--mount <PREFIX=MODULE[:EXPORT]>',
    section: 'sites',
    description:
      'serve another app under a path prefix, repeatable; the app on the command line is the one at /; the longest prefix that matches a request on a segment boundary serves it, and the app sees its path without the prefix',
    accepted: MOUNT_FORMS,
    repeatable: true,
    prefixMap: true,
    parse: mount,
    defaultValue: (): Mount[] => [],
    defaultText: 'none',
    display: (value) => (value as Mount[]).map((m) => m.app.raw).join(' '),
  }),
  spec({
    key: 'static',
    flags: '--static <PREFIX=DIR>',
    section: 'sites',
    description:
      'serve the files of a directory under a path prefix, repeatable; GET and HEAD for a file there are answered before the apps, anything else goes on to them',
    accepted: STATIC_FORMS,
    repeatable: true,
    prefixMap: true,
    parse: staticDir,
    defaultValue: (): StaticDir[] => [],
    defaultText: 'none',
    display: (value) => (value as StaticDir[]).map((s) => `${s.prefix}=${s.dir}`).join(' '),
  }),
  spec({
    key: 'staticMaxAge',
    flags: '--static-max-age <DURATION>',
    section: 'sites',
    description: 'how long a browser may keep a static file without asking again (Cache-Control: public, max-age=…)',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'staticImmutable',
    flags: '--static-immutable <REGEX>',
    section: 'sites',
    description:
      'static files whose path relative to their directory matches are cached for a year and never asked for again ' +
      "(Cache-Control: public, max-age=31536000, immutable): names with a content hash, as '^assets/' for a Vite build",
    accepted: 'a JavaScript regular expression',
    parse: regex,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'staticCacheSize',
    flags: '--static-cache-size <SIZE>',
    section: 'sites',
    description:
      'memory each worker keeps for the files of each static directory: files of up to an eighth of it (1 MB at most) ' +
      'are answered from memory while they stay the same, larger ones are read from the disk each time; 0 keeps none',
    accepted: 'a size such as 32MB or 512K (binary units: 1K = 1024 bytes), a number of bytes, or 0 to keep none',
    parse: size,
    defaultValue: () => 32 * 1024 * 1024,
    defaultText: '32MB',
    display: (value) => (value === 0 ? '0' : formatSizeExactly(value as number)),
  }),
  spec({
    key: 'staticDotfiles',
    flags: '--static-dotfiles <ignore|deny|allow>',
    section: 'sites',
    description:
      'static files and directories whose name starts with a dot: ignore (not found here: the request goes on to the apps), ' +
      'deny (403), or allow (served)',
    accepted: 'ignore, deny or allow',
    parse: choice('ignore', 'deny', 'allow'),
    defaultValue: () => 'ignore' as const,
    defaultText: 'ignore',
  }),
  spec({
    key: 'staticFollowSymlinks',
    flags: '--static-follow-symlinks',
    section: 'sites',
    description: 'serve a symbolic link in a static directory that leads out of it (one that stays inside is always served)',
    ...OFF_SWITCH,
  }),
  spec({
    key: 'staticPrecompressed',
    flags: '--static-precompressed',
    section: 'sites',
    description:
      'answer a static file with its .br or .gz sibling when there is one and Accept-Encoding takes it; ' +
      '--no-static-precompressed to serve the files only as they are',
    accepted: 'true or false',
    switch: true,
    negatable: 'serve static files only as they are, never a .br or .gz sibling',
    parse: yesNo,
    defaultValue: () => true,
    defaultText: 'on',
  }),
] as const;
