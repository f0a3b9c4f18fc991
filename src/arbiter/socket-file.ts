/**
 * The file of a unix socket the arbiter binds (`--bind unix:PATH`): a stale one left by a server
 * that died without removing it is replaced, a live one refused; the new file gets the --umask
 * mode and, when the workers run as another user, that user and group (as Gunicorn does), so that a
 * proxy in the workers' group can connect. The socket is bound under a temporary name beside PATH
 * and only given PATH once it listens: a client (a proxy, a script) that connects as soon as PATH
 * appears is queued, never refused.
 */
import { chownSync, linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probe } from '../control/server';
import { cannotEnter } from '../shared/dir-access';
import { bindFailed } from '../shared/errors';
import type { Logger } from '../shared/log';

/** Who the socket file is given to, and the mask it is created under. */
export interface SocketFileOptions {
  umask?: number;
  owner?: { uid: number; gid: number; label: string };
  log?: Logger;
}

/**
 * Make way for a socket at `file`: nothing there is fine; a socket file where nothing accepts
 * (probed with a connect) is removed, with a warning; a live socket or any other file is refused.
 */
export async function makeRoomForSocket(file: string, shown: string, log: Logger | undefined): Promise<void> {
  const blocked = cannotEnter(path.dirname(file), '--bind');
  if (blocked) throw bindFailed(shown, blocked);
  const stat = lstatSync(file, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isSocket()) throw bindFailed(shown, 'the path exists and is not a socket; remove it or bind another path');
  const found = await probe(file);
  if (found === 'live') throw bindFailed(shown, 'a server is already listening on it; stop it, or bind another path');
  if (found === 'absent') return;
  if (found !== 'stale') throw bindFailed(shown, `cannot tell whether a server listens on it (${found})`);
  try {
    unlinkSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw bindFailed(shown, `cannot remove the stale socket file: ${code}`, err);
  }
  log?.warn({ address: shown }, `Replaced the stale socket file ${file}: nothing was listening on it`);
}

/** Run `bind` (which creates the socket file synchronously) under --umask. */
export function withUmask<T>(umask: number | undefined, bind: () => T): T {
  if (umask === undefined) return bind();
  const previous = process.umask(umask);
  try {
    return bind();
  } finally {
    process.umask(previous);
  }
}

/** Give the new socket file to the workers' user and group. */
export function giveSocketFile(file: string, shown: string, owner: SocketFileOptions['owner']): void {
  if (!owner) return;
  try {
    chownSync(file, owner.uid, owner.gid);
  } catch (err) {
    throw bindFailed(shown, `cannot give the socket file to ${owner.label}: ${(err as NodeJS.ErrnoException).code}`, err);
  }
}

/** libuv's code for a name too long, as a bind returns it. */
export const UV_ENAMETOOLONG = os.constants.errno.ENAMETOOLONG * -1;

/**
 * Give the listening socket bound at `staged` its path `file`. It is linked there, which (unlike
 * a rename) never replaces a file: one that appeared since makeRoomForSocket looked is dealt with
 * as that does (a stale socket replaced, a live one or another file refused). A file system without
 * hard links gets a rename. The staging name is gone afterwards, whatever happened.
 */
export async function placeSocketFile(staged: string, file: string, shown: string, log: Logger | undefined): Promise<void> {
  try {
    let code = fileOp(() => linkSync(staged, file));
    if (code === 'EEXIST') {
      await makeRoomForSocket(file, shown, log);
      code = fileOp(() => linkSync(staged, file));
      if (code === 'EEXIST') throw bindFailed(shown, 'another process created the socket file at the same moment; bind another path');
    } else if (code === 'EPERM') {
      if (lstatSync(file, { throwIfNoEntry: false })) await makeRoomForSocket(file, shown, log);
      code = fileOp(() => renameSync(staged, file));
    }
    if (code !== undefined) throw bindFailed(shown, `cannot put the socket file in place: ${code}`);
  } finally {
    fileOp(() => unlinkSync(staged)); // ENOENT after a rename
  }
}

/** Run a file operation: undefined when done, else its error code. */
function fileOp(op: () => void): string | undefined {
  try {
    op();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
