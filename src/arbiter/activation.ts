/**
 * systemd socket activation (sd_listen_fds(3)): systemd binds the sockets a `.socket` unit lists
 * and starts unicorn with them as file descriptors 3, 4, …, counted in `LISTEN_FDS`, named in
 * `LISTEN_FDNAMES`, for the process `LISTEN_PID`. The arbiter then serves on those and binds
 * nothing, as Gunicorn does: `--bind` is not used. The sockets, and their files, stay systemd's.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, formatAddress } from '../config/address';
import { badValue, bindFailed } from '../shared/errors';
import { createServerHandle, type ServerHandle } from '../shared/raw-handle';
import { closeAll, type Listener } from './listeners';

/** The first file descriptor systemd passes. */
export const SD_LISTEN_FDS_START = 3;

/** What systemd sets; removed at once, so that they reach neither the workers, nor the app, nor a
 *  USR2 successor (which gets the sockets as unicorn hands them down). */
const LISTEN_VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'];

/**
 * The listening sockets systemd passed to this process, in fd order, or undefined when it passed
 * none (no `LISTEN_FDS`, or `LISTEN_PID` names another process). Throws a UnicornError for a count
 * that is not one, or a descriptor that is not a socket unicorn can accept on (a datagram socket,
 * a FIFO).
 */
export function activatedListeners(env: NodeJS.ProcessEnv, pid = process.pid): Listener[] | undefined {
  const { LISTEN_PID: pidRaw, LISTEN_FDS: countRaw, LISTEN_FDNAMES: namesRaw } = env;
  for (const name of LISTEN_VARIABLES) delete env[name];
  if (countRaw === undefined || pidRaw === undefined || Number(pidRaw) !== pid) return undefined;
  if (!/^\d+$/.test(countRaw.trim()))
    throw badValue('LISTEN_FDS', countRaw, 'the number of sockets systemd passes from file descriptor 3 on: a whole number');
  const count = Number(countRaw);
  if (count === 0) return undefined;
  // Names that do not match the count are ignored, as sd_listen_fds_with_names(3) refuses them.
  const names = namesRaw?.split(':');
  return adoptListeners(
    SD_LISTEN_FDS_START,
    count,
    (fd) => {
      const name = names?.length === count ? names[fd - SD_LISTEN_FDS_START] : undefined;
      return `fd ${fd}${name ? ` (${JSON.stringify(name)})` : ''}, passed by systemd`;
    },
    'not a stream socket unicorn can accept on (ListenStream= in the .socket unit)',
  ).map((listener) => ({ ...listener, systemd: true }));
}

/**
 * The listening sockets at file descriptors `first` to `first + count - 1`, passed by whoever
 * started this process (systemd, the emperor), in fd order. Throws a UnicornError naming the
 * descriptor (`which`) for one that is not a socket unicorn can accept on (`notStream`: how to fix it).
 */
export function adoptListeners(first: number, count: number, which: (fd: number) => string, notStream: string): Listener[] {
  const listeners: Listener[] = [];
  for (let fd = first; fd < first + count; fd++) {
    const handle = createServerHandle(null, 0, 0, fd);
    if (typeof handle === 'number') {
      closeAll(listeners);
      const code = getSystemErrorName(handle);
      throw bindFailed(which(fd), code === 'EINVAL' ? notStream : code);
    }
    const address = addressOf(handle, fd);
    listeners.push({ address, url: formatAddress(address), handle });
  }
  return listeners;
}

/** Where a passed socket listens: its TCP address, its unix socket path, else `fd://N`. */
function addressOf(handle: ServerHandle, fd: number): BindAddress {
  const tcp: { address?: string; port?: number } = {};
  if (handle.getsockname?.(tcp) === 0 && tcp.address !== undefined && tcp.port !== undefined) {
    return { kind: 'tcp', host: tcp.address, port: tcp.port };
  }
  const path = unixSocketPath(fd);
  return path ? { kind: 'unix', path } : { kind: 'fd', fd };
}

/** A unix socket's path, from the kernel's table of them by inode (Linux): node:net has no
 *  getsockname for pipes. Abstract sockets are shown as `@name`. */
function unixSocketPath(fd: number): string | undefined {
  try {
    const inode = String(fstatSync(fd).ino);
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] === inode && fields[7]) return fields[7];
    }
  } catch {
    // No /proc: the address is shown as fd://N.
  }
  return undefined;
}

/**
 * A line for the log when --bind names addresses other than the sockets systemd passed, or
 * undefined: under socket activation the .socket unit decides where unicorn listens.
 */
export function describeUnusedBind(bind: BindAddress[], listeners: Listener[]): string | undefined {
  const passed = new Set(listeners.map((l) => l.url));
  const unused = bind.map(formatAddress).filter((url) => !passed.has(url));
  if (unused.length === 0) return undefined;
  return `Socket activation: serving on the ${listeners.length} socket${listeners.length === 1 ? '' : 's'} systemd passed; --bind ${unused.join(', ')} is not bound`;
}
