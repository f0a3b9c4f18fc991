/**
 * Node's module compile cache (Node 22.8 and later) for the process that loads this first: the
 * arbiter (bin/unicorn) and each worker (worker/main.ts) compile the same files of unicorn, pino
 * and commander at every start, and the code V8 caches on disk saves about a fifth of that
 * (benchmarks/RESULTS.md, start-up). What loads after it, the app included, is cached too.
 *
 * Where: NODE_COMPILE_CACHE if set (the user's choice), else a directory of this user's own in the
 * temporary directory, used only if no one else could have written to it: code loaded from a cache
 * another user planted would run as this server. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { enableCompileCache, flushCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

function privateCacheDir(): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = path.join(tmpdir(), `unicorn-compile-cache-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // There already, or cannot be made: the check below decides.
  }
  try {
    const stat = lstatSync(dir);
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Write what this process has compiled to the cache now, rather than at its exit: the workers forked
 * meanwhile (a wake from idle, a scale-up, a replacement after a deploy) read it, and a worker that
 * is killed never writes it. Nothing is written for a file whose cache is unchanged.
 */
export function persistCompileCache(): void {
  flushCompileCache();
}

if (process.env.NODE_COMPILE_CACHE) enableCompileCache();
else {
  const dir = privateCacheDir();
  if (dir) enableCompileCache(dir);
}
