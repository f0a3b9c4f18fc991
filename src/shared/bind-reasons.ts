/** Why a socket could not be bound, in words: the arbiter's --bind and the emperor's on-demand sockets. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be resolved',
  ENOENT: 'no such directory for the socket file',
  ENOTDIR: 'a part of the socket path is not a directory',
  ENAMETOOLONG: 'socket path too long',
  EBADF: 'not an open file descriptor',
  EINVAL: 'not a socket that can listen',
  ENOTSOCK: 'not a socket',
  ENOTSUP: 'SO_REUSEPORT is not supported on this system',
};

/** What a failed bind's code means, for the one-line refusal. */
export const bindReason = (code: string, fallback = code) => REASONS[code] ?? fallback;

/** A failed bind's code; libuv reports a unix socket path (`unixPath`) in a missing directory as EACCES. */
export function bindErrorCode(errno: number, unixPath?: string): string {
  const code = getSystemErrorName(errno);
  if (code === 'EACCES' && unixPath !== undefined && !existsSync(path.dirname(unixPath))) return 'ENOENT';
  return code;
}
