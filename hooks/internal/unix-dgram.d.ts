// The part of unix-dgram (https://github.com/bnoordhuis/node-unix-dgram, no types of its own) that
// unicorn uses. Its callbacks and events run synchronously, inside the call that causes them.
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events';

  /** A failed system call: `errno` and `code` are both the negative errno number, such as -111. */
  export interface UnixDgramError extends Error {
    errno: number;
    code: number;
    syscall: string;
  }

  export interface UnixDgramSocket extends EventEmitter {
    /** Emits 'listening', or 'error' when bind(2) fails. */
    bind(path: string): void;
    /** sendto(2) on an unconnected socket; the callback is called before send() returns. */
    send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: UnixDgramError) => void): void;
    close(): void;
    on(event: 'message', listener: (message: Buffer) => void): this;
    on(event: 'listening', listener: () => void): this;
    on(event: 'error', listener: (err: UnixDgramError) => void): this;
  }

  /** Throws when socket(2) fails. */
  export function createSocket(type: 'unix_dgram', listener?: (message: Buffer) => void): UnixDgramSocket;
}
