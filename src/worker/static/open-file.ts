/**
 * The file a static answer is made from, opened once: its bytes come from this descriptor, never
 * from a second open of its path, which a link swapped in between could lead elsewhere. It must be
 * the file the library's stat described (device, inode, size, mtime), and, unless links out are
 * allowed, its real path — read from the descriptor, so it is this file's — must be inside the
 * directory.
 */
import { existsSync, type Stats } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { sameFile } from './known-files';

export type Opened = { handle: FileHandle; stats: Stats } | 'changed' | 'outside';

/** Linux names each descriptor's file under /proc/self/fd, by its real path; elsewhere the path is resolved again. */
const BY_DESCRIPTOR = existsSync('/proc/self/fd');

/** The real path of the open file: where it was, for one renamed over or removed since it was opened. */
async function realPathOf(handle: FileHandle, file: string): Promise<string> {
  if (!BY_DESCRIPTOR) return realpath(file);
  const named = await readlink(`/proc/self/fd/${handle.fd}`);
  return named.endsWith(' (deleted)') ? named.slice(0, -' (deleted)'.length) : named;
}

/**
 * `inside`: whether a real path is in the directory (undefined: links out are allowed). 'changed':
 * the path is no longer the file the library saw (replaced, removed, made a directory); the answer
 * is to be made again.
 */
export async function openChecked(file: string, expected: Stats, inside?: (real: string) => Promise<boolean>): Promise<Opened> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (['ENOENT', 'EISDIR', 'ENOTDIR', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) return 'changed';
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!sameFile(stats, expected)) return close(handle, 'changed');
    if (inside && !(await inside(await realPathOf(handle, file)))) return close(handle, 'outside');
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

async function close<T>(handle: FileHandle, outcome: T): Promise<T> {
  await handle.close();
  return outcome;
}
