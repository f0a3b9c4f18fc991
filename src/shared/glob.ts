/**
 * The globs of `--reload-extra-file`: `*` and `?` within one path segment, `**` as a whole segment
 * for any number of directories (none included), `{a,b}` for alternatives. Unlike a shell's, `*`
 * matches dotfiles too. Ours because chokidar has had no globs since v4, and Node 22 prints an
 * ExperimentalWarning for `path.matchesGlob` before 22.20.
 */

const GLOB_CHARACTER = /[*?{]/;

export const isGlob = (pattern: string): boolean => GLOB_CHARACTER.test(pattern);

/** The directory before the first glob character of absolute `glob`: what to watch for it. */
export function globBase(glob: string): string {
  return glob.slice(0, glob.lastIndexOf('/', glob.search(GLOB_CHARACTER))) || '/';
}

/** Absolute `glob` as a regular expression over absolute paths; undefined when a { is not closed. */
export function globToRegExp(glob: string): RegExp | undefined {
  let source = '';
  let openBraces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    const wholeSegment = c === '*' && glob[i + 1] === '*' && glob[i - 1] === '/';
    if (wholeSegment && glob[i + 2] === '/') {
      source += '(?:[^/]*/)*';
      i += 2;
    } else if (wholeSegment && i + 2 === glob.length) {
      source += '.*';
      i += 1;
    } else if (c === '*') {
      source += '[^/]*';
      while (glob[i + 1] === '*') i++;
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '{') {
      source += '(?:';
      openBraces++;
    } else if (c === '}' && openBraces > 0) {
      source += ')';
      openBraces--;
    } else if (c === ',' && openBraces > 0) {
      source += '|';
    } else {
      source += c.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
    }
  }
  return openBraces === 0 ? new RegExp(`^${source}$`) : undefined;
}
