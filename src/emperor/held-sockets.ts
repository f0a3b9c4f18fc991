/**
 * The sockets of an on-demand vassal, as the emperor holds them (docs/emperor.md, "On demand"): bound
 * once, open across the vassal's lives, accepted on by the emperor only while no vassal serves.
 * libuv stops accepting on a handle only by closing it; so the vassal sends a copy of each socket
 * back at start (a raw handle received over IPC is a new descriptor), and once all have come the
 * emperor closes the handle it accepted on and keeps the copies, on which it accepts again when the
 * vassal leaves or exits. Connections accepted meanwhile are held unread and passed to the vassal,
 * which serves them as fresh ones.
 */
import { lstatSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, formatAddress } from '../config/address';
import { bindErrorCode, bindReason } from '../shared/bind-reasons';
import { FreeDescriptors } from '../shared/descriptors';
import { bindFailed, type UnicornError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { type ClientHandle, createServerHandle, type ListenHandle, type ServerHandle } from '../shared/raw-handle';
import { fitsSocketAddress, stagingPath } from '../shared/socket-path';
import type { FromVassal, ToVassal } from '../vassal-ipc';

type Handle = ServerHandle & ListenHandle;

/** One socket: the handle the emperor holds now, and the copy the running vassal sent of it. */
interface Held {
  url: string;
  /** A unix socket's file, removed when the vassal is removed for good. */
  file?: string;
  /** The temporary name it is bound under until it listens. */
  staged?: string;
  handle: Handle;
  copy?: Handle;
}

/** How the running vassal is sent a connection: `sent` once the message is out (the emperor's copy
 *  is closed then); false if the vassal is gone. */
export type SendToVassal = (message: ToVassal, handle: unknown, sent: () => void) => boolean;

export class HeldSockets {
  private readonly sockets: Held[];
  /** Connections accepted (or handed back) and not yet passed to a vassal, oldest first. */
  private readonly held: ClientHandle[] = [];
  private readonly descriptors = new FreeDescriptors();
  /** Connections are being closed for want of descriptors (said once until they are held again). */
  private short = false;
  private accepting = false;
  private onConnection: () => void = () => {};
  /** The running vassal, once it takes connections (all its copies have come), until it leaves. */
  private send: SendToVassal | undefined;
  /** passHeld was called for the vassal now starting: it is sent what is held once its copies are in. */
  private pendingSend: SendToVassal | undefined;

  private constructor(
    sockets: Held[],
    private readonly backlog: number,
    private readonly log: Logger,
  ) {
    this.sockets = sockets;
  }

  /** Bind every address (throws a UnicornError naming the address); the sockets listen at once, so
   *  that clients queue before anyone accepts. */
  static bind(addresses: BindAddress[], backlog: number, log: Logger): HeldSockets {
    const sockets: Held[] = [];
    try {
      for (const address of addresses) sockets.push(bindOne(address));
      const held = new HeldSockets(sockets, backlog, log);
      const failed = held.listen();
      if (failed) throw failed;
      for (const socket of sockets) placeFile(socket);
      return held;
    } catch (err) {
      for (const socket of sockets) closeSocket(socket);
      throw err;
    }
  }

  /** Accept while no vassal runs: each connection is held unread; `onConnection` is called for each
   *  (start the vassal at the first). */
  accept(onConnection: () => void): void {
    this.onConnection = onConnection;
    this.listen();
    for (let i = 0; i < this.held.length; i++) onConnection();
  }

  /** Descriptors to hand the vassal being spawned, as its stdio entries 3, 4, … (set
   *  UNICORN_VASSAL_FDS to their count). */
  get fds(): number[] {
    return this.sockets.map((socket) => socket.handle.fd);
  }

  /** A message (and its handle) from the vassal: listener copies, connections handed back, leaving.
   *  True if it was one of these. */
  fromVassal(message: FromVassal, handle: unknown): boolean {
    switch (message.type) {
      case 'unicorn:vassal-listener':
        this.copied(message.index, handle as Handle | undefined);
        return true;
      case 'unicorn:vassal-connection':
        if (handle) this.held.push(handle as ClientHandle);
        return true;
      case 'unicorn:vassal-leaving':
        // It accepts no more: what comes now waits here for its successor.
        this.send = this.pendingSend = undefined;
        this.listen();
        return true;
      default:
        return false;
    }
  }

  /** Pass what is held to the running vassal, once it takes connections (its copies have come, so
   *  it listens for them), and what is accepted or handed back later, until it leaves or exits. */
  passHeld(send: SendToVassal): void {
    if (this.accepting && this.sockets.some((socket) => !socket.copy)) {
      this.pendingSend = send;
      return;
    }
    this.send = send;
    this.flush();
  }

  /** The vassal process exited (any way): accept again, and start the next one for what is held. */
  vassalGone(): void {
    this.send = this.pendingSend = undefined;
    for (const socket of this.sockets) {
      socket.copy?.close();
      socket.copy = undefined;
    }
    this.listen();
    if (this.held.length > 0) this.onConnection();
  }

  get holding(): number {
    return this.held.length;
  }

  /** The vassal is removed for good: close the sockets (and remove unix socket files). */
  close(): void {
    for (const connection of this.held.splice(0)) connection.close();
    for (const socket of this.sockets) closeSocket(socket);
    this.sockets.length = 0;
    this.send = this.pendingSend = undefined;
    this.accepting = false;
  }

  /** The vassal's copy of socket `index` came; once all have, the emperor stops accepting and keeps them. */
  private copied(index: number, copy: Handle | undefined): void {
    const socket = this.sockets[index];
    if (!socket || !copy || socket.copy) {
      copy?.close();
      return;
    }
    socket.copy = copy;
    if (this.sockets.some((s) => !s.copy)) return;
    for (const s of this.sockets) {
      s.handle.close();
      s.handle = s.copy!;
      s.copy = undefined;
    }
    this.accepting = false;
    if (this.pendingSend) this.passHeld(this.pendingSend);
  }

  /** Accept on the handles held now (after the vassal left: its copies); the first failure, if any. */
  private listen(): UnicornError | undefined {
    if (this.accepting) return undefined;
    let failed: UnicornError | undefined;
    for (const socket of this.sockets) {
      socket.handle.onconnection = (status, client) => {
        if (status < 0 || !client) {
          this.log.warn({ address: socket.url, status }, 'The emperor could not accept a connection');
          return;
        }
        if (!this.descriptors.took()) return this.refuse(client);
        this.short = false;
        this.held.push(client);
        this.onConnection();
        this.flush();
      };
      const err = socket.handle.listen(this.backlog);
      if (err === 0) continue;
      failed ??= bindFailed(socket.url, bindReason(getSystemErrorName(err)));
      this.log.error({ address: socket.url, err: getSystemErrorName(err) }, 'The emperor could not accept on a socket');
    }
    this.accepting = true;
    this.descriptors.recount();
    return failed;
  }

  /**
   * Too few descriptors are left to hold `client` and still start the vassal (its channel and pipes
   * need some): it is closed. Without this the emperor would hold connections until an accept failed
   * (libuv then accepts and closes every one queued) and the vassal could not be started at all.
   */
  private refuse(client: ClientHandle): void {
    client.close();
    if (this.short) return;
    this.short = true;
    const { left, limit } = this.descriptors;
    this.log.warn(
      { limit, free: left },
      `Out of file descriptors (${left} of ${limit} free): the emperor closes the connections it cannot hold until the vassal takes those it holds`,
    );
  }

  /** Send the running vassal everything held, oldest first. */
  private flush(): void {
    const { send } = this;
    if (!send) return;
    for (let connection = this.held.shift(); connection; connection = this.held.shift()) {
      const handle = connection;
      if (send({ type: 'unicorn:vassal-connection' }, handle, () => handle.close())) continue;
      this.held.unshift(handle);
      this.send = undefined;
      return;
    }
  }
}

/**
 * Bind, not yet listening. A unix socket is bound under a temporary name beside its path and renamed
 * into place once it listens (placeFile): a client that connects as soon as the path appears is queued, and closing
 * the handle later unlinks only the temporary name, never the path a later handle serves on.
 */
function bindOne(address: BindAddress): Held {
  const url = formatAddress(address);
  let handle: Handle | number;
  let staged: string | undefined;
  switch (address.kind) {
    case 'tcp': {
      const family = net.isIP(address.host);
      if (family === 0) throw bindFailed(url, 'the emperor binds an on-demand vassal itself, without a name lookup: give an IP address');
      handle = createServerHandle(address.host, address.port, family) as Handle | number;
      break;
    }
    case 'unix':
      staged = stagingPath(address.path);
      if (!fitsSocketAddress(staged)) throw bindFailed(url, 'socket path too long (with room for a temporary name 10 bytes longer)');
      handle = createServerHandle(staged, -1, -1) as Handle | number;
      break;
    case 'fd':
      handle = createServerHandle(null, 0, 0, address.fd) as Handle | number;
      break;
  }
  if (typeof handle === 'number')
    throw bindFailed(url, bindReason(bindErrorCode(handle, address.kind === 'unix' ? address.path : undefined)));
  return { url, handle, ...(staged && address.kind === 'unix' ? { file: address.path, staged } : {}) };
}

/** A listening unix socket gets its path. A leftover file there (an emperor that died) is replaced:
 *  this emperor owns the path. */
function placeFile(socket: Held): void {
  if (!socket.staged || !socket.file) return;
  try {
    if (lstatSync(socket.file, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    renameSync(socket.staged, socket.file);
  } catch (err) {
    throw bindFailed(socket.url, `cannot put the socket file in place: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  socket.staged = undefined;
}

function closeSocket(socket: Held): void {
  socket.copy?.close();
  socket.handle.close();
  if (socket.file && !socket.staged) rmSync(socket.file, { force: true });
}
