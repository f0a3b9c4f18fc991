import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, formatAddress } from '../config/address';
import { bindErrorCode, bindReason as reason } from '../shared/bind-reasons';
import { badValue, bindFailed } from '../shared/errors';
import { createServerHandle } from '../shared/raw-handle';
import { fitsSocketAddress, stagingPath } from '../shared/socket-path';
import type { Listener, ServerHandle } from './listener';
import { bindReusePort, somethingListens } from './reuse-port';
import { giveSocketFile, makeRoomForSocket, placeSocketFile, type SocketFileOptions, UV_ENAMETOOLONG, withUmask } from './socket-file';

export type { Listener, ServerHandle } from './listener';

/** How the arbiter binds: unix socket files' mode and owner, and --reuse-port for TCP. */
export interface BindOptions extends SocketFileOptions {
  reusePort?: boolean;
}

/** A bound socket, and for a unix one the name it is bound under until it listens (socket-file.ts). */
interface Bound {
  listener: Listener;
  staged?: string;
}

async function bindOne(address: BindAddress, options: BindOptions): Promise<Bound> {
  const shown = formatAddress(address);
  let result: ServerHandle | number;
  let staged: string | undefined;
  switch (address.kind) {
    case 'tcp': {
      let ip: { address: string; family: number };
      try {
        // node:dns is loaded for a host name only: most binds name an address.
        const lookup = () => (require('node:dns/promises') as typeof import('node:dns/promises')).lookup(address.host);
        ip = net.isIP(address.host) ? { address: address.host, family: net.isIP(address.host) } : await lookup();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
        throw bindFailed(shown, reason(code, (err as Error).message), err);
      }
      if (options.reusePort) {
        if (address.port !== 0 && (await somethingListens(ip.address, address.port))) throw bindFailed(shown, reason('EADDRINUSE'));
        const bound = bindReusePort(ip.address, address.port);
        if (typeof bound === 'string') throw bindFailed(shown, reason(bound));
        result = bound;
        break;
      }
      result = createServerHandle(ip.address, address.port, ip.family);
      break;
    }
    case 'unix': {
      await makeRoomForSocket(address.path, shown, options.log);
      staged = stagingPath(address.path);
      // Some libuv versions (Node 22's) cut a name too long for a socket address short rather
      // than fail, so the length is checked here too.
      result = fitsSocketAddress(staged) ? withUmask(options.umask, () => createServerHandle(staged!, -1, -1)) : UV_ENAMETOOLONG;
      if (typeof result === 'number' && ['EINVAL', 'ENAMETOOLONG'].includes(getSystemErrorName(result))) {
        // The temporary name is 10 bytes longer than PATH: past what a socket address holds.
        staged = undefined;
        result = withUmask(options.umask, () => createServerHandle(address.path, -1, -1));
        const why =
          'the path leaves no room for a temporary name beside it, so the socket file appears a moment before it accepts connections; a path 10 bytes shorter avoids this';
        if (typeof result !== 'number') options.log?.warn({ address: shown }, `${shown}: ${why}`);
      }
      if (typeof result !== 'number') {
        try {
          giveSocketFile(staged ?? address.path, shown, options.owner);
        } catch (err) {
          result.close();
          throw err;
        }
      }
      break;
    }
    case 'fd':
      result = createServerHandle(null, 0, 0, address.fd);
      break;
  }
  if (typeof result === 'number')
    throw bindFailed(shown, reason(bindErrorCode(result, address.kind === 'unix' ? address.path : undefined)));
  if (address.kind === 'tcp' && address.port !== 0 && boundPort(result) === 0) {
    // libuv delays EADDRINUSE from bind(2) to listen(2), which would then pick a random port.
    result.close();
    throw bindFailed(shown, reason('EADDRINUSE'));
  }
  const listener = {
    address,
    url: actualUrl(address, result),
    handle: result,
    ...(options.reusePort && address.kind === 'tcp' ? { reusePort: true } : {}),
  };
  return { listener, staged };
}

function boundPort(handle: ServerHandle): number {
  const out: { port?: number } = {};
  handle.getsockname?.(out);
  return out.port ?? 0;
}

function actualUrl(address: BindAddress, handle: ServerHandle): string {
  if (address.kind !== 'tcp' || address.port !== 0) return formatAddress(address);
  return formatAddress({ kind: 'tcp', host: address.host, port: boundPort(handle) });
}

/**
 * Put the bound sockets in the listening state without accepting on them here: a throwaway Node
 * process inherits them, calls listen(2) on each synchronously and exits before its event loop
 * would ever accept. From then on clients queue in the kernel backlog — before the first worker is
 * ready, and while no worker is alive — instead of being refused.
 */
function listenWithoutAccepting(listeners: Listener[], backlog: number): void {
  const script = `
    const net = require('node:net');
    const count = Number(process.argv[1]), backlog = Number(process.argv[2]);
    for (let fd = 3; fd < 3 + count; fd++) {
      const server = net.createServer();
      server.on('error', () => {});
      server.listen({ fd, backlog });
      if (!server.listening) { process.stdout.write(String(fd - 3)); process.exit(1); }
    }
    process.exit(0);`;
  const result = spawnSync(process.execPath, ['-e', script, String(listeners.length), String(backlog)], {
    stdio: ['ignore', 'pipe', 'inherit', ...listeners.map((l) => l.handle.fd)],
    env: {},
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    const failed = listeners[Number(result.stdout)] ?? listeners[0]!;
    throw bindFailed(failed.url, result.error ? `listen failed: ${result.error.message}` : reason('EINVAL'));
  }
}

/**
 * Bind every address, in order, and listen, before any worker exists; then give each unix socket
 * its path. If one fails, the ones already bound are closed and their socket files removed, and
 * the failure names the address and the reason.
 */
export async function bindAll(addresses: BindAddress[], backlog: number, options: BindOptions = {}): Promise<Listener[]> {
  const bound: Bound[] = [];
  const placed: string[] = [];
  const listeners = () => bound.map((b) => b.listener);
  try {
    for (const address of addresses) bound.push(await bindOne(address, options));
    listenWithoutAccepting(listeners(), backlog);
    for (const { listener, staged } of bound) {
      if (!staged || listener.address.kind !== 'unix') continue;
      await placeSocketFile(staged, listener.address.path, listener.url, options.log);
      placed.push(listener.address.path);
    }
    return listeners();
  } catch (err) {
    closeAll(listeners());
    for (const file of placed) rmSync(file, { force: true });
    throw err;
  }
}

/** Close the listeners. A unix listener's file is left where it is (libuv unlinks only the name it
 *  was bound under, gone once it has its path): the arbiter removes it (removeSocketFiles). */
export function closeAll(listeners: Listener[]): void {
  for (const listener of listeners.splice(0)) listener.handle.close();
}

/**
 * Names the listening sockets a re-executed arbiter (USR2) inherits: JSON, one entry per listener,
 * in order, with the file descriptor it has in the new process.
 */
export const INHERITED_LISTENERS_ENV = 'UNICORN_LISTENERS';

interface InheritedListener {
  fd: number;
  address: BindAddress;
  url: string;
  systemd?: boolean;
  reusePort?: boolean;
}

/** The pid of the arbiter that hands the listeners down, so that its successor knows whom to outlive. */
export const PREDECESSOR_ENV = 'UNICORN_PREDECESSOR_PID';

/**
 * The listeners handed down by the arbiter that started this one with USR2, and that arbiter's
 * pid; undefined when this arbiter was not started that way. The listeners are already listening;
 * nothing is bound. The variables are removed so that they reach neither the workers nor a later
 * successor.
 */
export function inheritListeners(env: NodeJS.ProcessEnv): { listeners: Listener[]; predecessor: number } | undefined {
  const raw = env[INHERITED_LISTENERS_ENV];
  const predecessorRaw = env[PREDECESSOR_ENV] ?? '';
  const predecessor = Number(predecessorRaw);
  delete env[PREDECESSOR_ENV];
  if (raw === undefined) return undefined;
  delete env[INHERITED_LISTENERS_ENV];
  if (!Number.isInteger(predecessor) || predecessor <= 0) {
    throw badValue(PREDECESSOR_ENV, predecessorRaw, `the pid of the arbiter that set ${INHERITED_LISTENERS_ENV}`);
  }
  let inherited: InheritedListener[];
  try {
    inherited = JSON.parse(raw) as InheritedListener[];
    if (!Array.isArray(inherited) || !inherited.every((l) => Number.isInteger(l?.fd) && typeof l.url === 'string')) throw new Error();
  } catch {
    throw badValue(INHERITED_LISTENERS_ENV, raw, 'the listeners an arbiter hands down on USR2: a JSON array of { fd, address, url }');
  }
  const listeners: Listener[] = [];
  for (const { fd, address, url, systemd, reusePort } of inherited) {
    const handle = createServerHandle(null, 0, 0, fd);
    if (typeof handle === 'number') {
      closeAll(listeners);
      throw bindFailed(`${url} (inherited as fd ${fd})`, reason(getSystemErrorName(handle)));
    }
    listeners.push({ address, url, handle, ...(systemd ? { systemd } : {}), ...(reusePort ? { reusePort } : {}) });
  }
  return { listeners, predecessor };
}

/**
 * USR2: start a new arbiter with the same command line, Node options and starting directory. It
 * inherits the listening sockets as file descriptors 3, 4, … (named in its environment) and shares
 * this one's standard streams. Connections keep queuing on the shared sockets throughout, so none is
 * refused while one set of workers hands over to the other.
 */
export function spawnSuccessor(listeners: Listener[], cwd: string): ChildProcess {
  const inherited: InheritedListener[] = listeners.map((l, i) => ({
    fd: 3 + i,
    address: l.address,
    url: l.url,
    systemd: l.systemd,
    reusePort: l.reusePort,
  }));
  return spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd,
    env: { ...process.env, [INHERITED_LISTENERS_ENV]: JSON.stringify(inherited), [PREDECESSOR_ENV]: String(process.pid) },
    stdio: ['inherit', 'inherit', 'inherit', ...listeners.map((l) => l.handle.fd)],
  });
}
