/** What the arbiter holds of each socket it bound: the types the binding modules share. */
import type { BindAddress } from '../config/address';

/** A bound socket's libuv handle (TCP or Pipe wrap), as node:cluster's primary holds one. */
export interface ServerHandle {
  fd: number;
  close(): void;
  getsockname?(out: { address?: string; port?: number }): number;
}

/** A socket the arbiter bound and holds for its whole life; the workers accept on copies of it. */
export interface Listener {
  address: BindAddress;
  /** The address as logged, with the real port when 0 was asked for. */
  url: string;
  handle: ServerHandle;
  /** Passed by systemd (socket activation): its socket file is systemd's, never removed here. */
  systemd?: boolean;
  /** --reuse-port: the first of the SO_REUSEPORT sockets each worker gets one of (reuse-port.ts). */
  reusePort?: boolean;
}
