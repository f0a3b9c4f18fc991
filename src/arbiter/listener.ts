/** What the arbiter holds of each socket it bound: the types the binding modules share. */
import type { BindAddress } from '../config/address';
import type { ServerHandle } from '../shared/raw-handle';

export type { ServerHandle };

/** A socket the arbiter bound and holds for its whole life; the workers accept on copies of it. */
export interface Listener {
  address: BindAddress;
  /** The address as logged, with the real port when 0 was asked for. */
  url: string;
  handle: ServerHandle;
  /** Passed by systemd (socket activation): its socket file is systemd's, never removed here. */
  systemd?: boolean;
  /** Passed by the emperor (an on-demand vassal): the emperor holds it, and its socket file is the emperor's. */
  emperor?: boolean;
  /** --reuse-port: the first of the SO_REUSEPORT sockets each worker gets one of (reuse-port.ts). */
  reusePort?: boolean;
}
