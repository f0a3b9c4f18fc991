/** Apps and static files: what is served under which path prefix (docs/mounts.md). */

import { MOUNT_FORMS, type Mount, parseMount, parseStatic, STATIC_FORMS, type StaticDir } from '../mount-spec';
import { directory } from './parsers';
import { type Parser, spec } from './spec';

const mount: Parser<Mount> = (raw) => parseMount(raw);

const staticDir: Parser<StaticDir> = (raw, ctx) => {
  const entry = parseStatic(raw, ctx.cwd);
  if ('refused' in entry) return entry;
  const dir = directory(entry.dir, ctx);
  return typeof dir === 'string' ? { prefix: entry.prefix, dir } : { refused: `${entry.dir}: ${dir?.refused}` };
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
] as const;
