/**
 * The holder of an on-demand vassal's sockets while it is not running (held-sockets.ts): bound by
 * the emperor, handed to the vassal as descriptors 3, 4, … when its first connection comes.
 */
import type { BindAddress } from '../config/address';
import type { Logger } from '../shared/log';
import type { FromVassal, ToVassal } from '../vassal-ipc';

/** What the emperor asks of the holder (held-sockets.ts's HeldSockets). */
export interface SocketHolder {
  accept(onConnection: () => void): void;
  readonly fds: number[];
  fromVassal(message: FromVassal, handle: unknown): boolean;
  passHeld(send: (message: ToVassal, handle: unknown) => boolean): void;
  vassalGone(): void;
  readonly holding: number;
  close(): void;
}

export type BindHeld = (addresses: BindAddress[], backlog: number, log: Logger) => SocketHolder;

/** HeldSockets.bind, or undefined in a build without held-sockets.ts (on-demand vassals are then refused). */
export function socketHolder(): BindHeld | undefined {
  let held: { HeldSockets: { bind: BindHeld } };
  try {
    held = require('./held-sockets') as typeof held;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  return (addresses, backlog, log) => held.HeldSockets.bind(addresses, backlog, log);
}
