/**
 * The file of a unix socket the arbiter binds (`--bind unix:PATH`): a stale one left by a server
 * that died without removing it is replaced, a live one refused; the new file gets the --umask
 * mode and, when the workers run as another user, that user and group (as Gunicorn does), so that a
 * proxy in the workers' group can connect.
 */
import { chownSync, lstatSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { cannotEnter } from '../dir-access';
import { bindFailed } from '../errors';
import type { Logger } from '../log';
import { probe } from './control';

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
