/**
 * Which directory on a path this process cannot enter. Without search (x) permission on one of the
 * directories above a file, every call on the file fails with EACCES naming the whole path (`lstat
 * '/srv/app/run/app.sock'`), which does not say which directory to fix, or for whom.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Why `dir` cannot be entered, if it cannot: the first directory from the root down to `dir` itself
 * that this process may not search, its mode and owner, and what would fix it (`setting`: the flag
 * to give another path, where the message does not begin with it). Undefined when every one can be
 * entered, or when one is missing or not a directory (other messages say so).
 */
export function cannotEnter(dir: string, setting?: string): string | undefined {
  const chain: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    chain.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const current of chain) {
    // Its parent has been entered: it can be looked at, if not into.
    const stat = statSync(current, { throwIfNoEntry: false });
    if (!stat?.isDirectory()) return undefined;
    try {
      accessSync(current, constants.X_OK);
    } catch {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      const uid = process.getuid?.();
      // The permission bits that apply to this process: the owner's, the group's, or the others'.
      const who = stat.uid === uid ? 'u' : process.getgroups?.().includes(stat.gid) || stat.gid === process.getgid?.() ? 'g' : 'o';
      return `cannot enter ${current} as uid ${uid}: it has mode ${mode} and belongs to uid ${stat.uid}; let that user search it with chmod ${who}+x ${current}, or ${setting ? `give ${setting}` : 'choose'} a path outside it`;
    }
  }
  return undefined;
}
