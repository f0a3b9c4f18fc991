/**
 * The file watcher behind `--reload`: watches the app's directory and the `--reload-extra-file`
 * paths, and reports each burst of changes once, after a quiet time.
 *
 * - Only files count (add, change, unlink): chokidar reports the files inside a directory that is
 *   created, moved in or out, or removed, so directory events would only repeat them.
 * - An extra path that does not exist yet is watched for appearing: chokidar watches its nearest
 *   existing ancestor, and only the path itself (or what is below it) is reported.
 * - For a glob (./glob.ts) the directory before its first glob character is watched, and a file
 *   there is reported when its whole path matches.
 * - Never a change: `node_modules` and `.git` below a watched path (an extra path inside one is
 *   watched, for a linked package); the `ignoreFiles` and names made from them (the pidfile's
 *   `.tmp` while it is written, `.oldbin`, a rotated log's `.1`); what editors write while a file
 *   is open: vim swap files `*.swp`/`*.swx`, emacs locks `.#*` and autosaves `#*#`, backups `*~`.
 */
import path from 'node:path';
import { badValue } from '../shared/errors';
import { globBase, globToRegExp, isGlob } from '../shared/glob';

export interface WatchOptions {
  /** Directory watched recursively (the app's directory). */
  root: string;
  /** Extra paths or globs (relative to `cwd`), from --reload-extra-file: a file, a directory, or a glob such as `config/**\/*.yaml`. */
  extra: string[];
  cwd: string;
  /** Absolute file paths whose changes never trigger (the pidfile, unix socket files, log files). */
  ignoreFiles: string[];
  /** Quiet time after the last change before onChange fires (default 150 ms). */
  debounceMs?: number;
  /** Called once per burst of changes with the (absolute, deduplicated, sorted) paths that changed. */
  onChange: (files: string[]) => void;
  onError: (err: Error) => void;
}

export interface ReloadWatcher {
  /** Resolves when the initial scan is done: changes from then on are reported. */
  ready: Promise<void>;
  /** Stop watching; a burst waiting for its quiet time is dropped. */
  close(): Promise<void>;
}

const DEFAULT_DEBOUNCE_MS = 150;
const EDITOR_NOISE = /\.sw[px]$|~$|^\.#|^#.*#$/;

/** Watch `root` and `extra` and call `onChange` once per burst. Throws on a malformed glob. */
export function watchForReload(options: WatchOptions): ReloadWatcher {
  const root = path.resolve(options.cwd, options.root);
  const plain = [root];
  const globs: RegExp[] = [];
  const globBases: string[] = [];
  for (const extra of options.extra) {
    const absolute = path.resolve(options.cwd, extra);
    if (!isGlob(extra)) {
      plain.push(absolute);
      continue;
    }
    const matcher = globToRegExp(absolute);
    if (!matcher) throw badValue('--reload-extra-file', extra, 'a path, or a glob whose every { is closed by a }');
    globs.push(matcher);
    globBases.push(globBase(absolute));
  }
  const targets = [...plain, ...globBases];
  const ignoreFiles = options.ignoreFiles.map((file) => path.resolve(file));

  const isIgnored = (file: string): boolean =>
    EDITOR_NOISE.test(path.basename(file)) ||
    ignoreFiles.some((ignored) => file === ignored || file.startsWith(`${ignored}.`)) ||
    // Outside every watched path (beside a missing one), or below node_modules or .git in each.
    targets.every((target) => !isWithin(file, target) || /(^|\/)(node_modules|\.git)(\/|$)/.test(path.relative(target, file)));
  // The ancestors of a missing extra path are watched too: report only what was asked for.
  const isWanted = (file: string): boolean => plain.some((target) => isWithin(file, target)) || globs.some((glob) => glob.test(file));

  // Loaded here, not at the top: chokidar is an ES module, so a module importing this one stays
  // loadable where require(esm) is not (Jest without --experimental-vm-modules), and an arbiter
  // without --reload never loads it.
  const { watch } = require('chokidar') as typeof import('chokidar');
  const watcher = watch(targets, { ignoreInitial: true, ignored: isIgnored });

  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const report = (): void => {
    const files = [...changed].sort();
    changed.clear();
    try {
      options.onChange(files);
    } catch (err) {
      // Thrown from a timer it would end the arbiter: a reload hook's mistake must not.
      options.onError(err as Error);
    }
  };
  const record = (file: string): void => {
    if (!isWanted(file)) return;
    changed.add(file);
    clearTimeout(timer);
    timer = setTimeout(report, options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  };
  watcher.on('add', record).on('change', record).on('unlink', record);
  watcher.on('error', (err) => options.onError(explain(err)));

  const ready = new Promise<void>((resolve) => watcher.once('ready', resolve));
  return {
    ready,
    close: async () => {
      clearTimeout(timer);
      changed.clear();
      await watcher.close();
    },
  };
}

const isWithin = (file: string, directory: string): boolean =>
  file === directory || file.startsWith(directory === '/' ? '/' : `${directory}/`);

/** The error with what to do about it, when there is something to do. */
function explain(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(`--reload: the file watcher failed: ${String(err)}`);
  if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
  return new Error(
    `--reload cannot watch more files: the system's limit of inotify watches is reached (${err.message}). ` +
      'Raise it (sysctl fs.inotify.max_user_watches=524288), or watch fewer directories',
    { cause: err },
  );
}
