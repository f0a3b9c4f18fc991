import path from 'node:path';

/**
 * How long a unix socket's path can be: a fact of the platform, which the control socket, the
 * --bind unix: sockets and the systemd notifier all check a path against before the kernel sees it;
 * and the temporary name a socket is bound under until it listens (the arbiter's and the emperor's).
 */

/** sun_path's size less its terminating NUL: 108 bytes on Linux, 104 on the BSDs and macOS. */
export const MAX_SOCKET_PATH_BYTES = (process.platform === 'linux' ? 108 : 104) - 1;

/** Whether `file` fits a socket address whole. */
export function fitsSocketAddress(file: string): boolean {
  return Buffer.byteLength(file) <= MAX_SOCKET_PATH_BYTES;
}

/** A name beside `file` to bind the socket under until it listens: `.NAME.` and 8 random hex digits. */
export function stagingPath(file: string): string {
  // node:crypto is loaded here, for unix sockets only: an arbiter without TLS has no other use for it.
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}`);
}
