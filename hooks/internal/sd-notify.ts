/**
 * sd_notify(3) for the systemd hooks: state changes (READY=1, RELOADING=1, STOPPING=1, STATUS=…,
 * WATCHDOG=1) sent as datagrams to the unix socket systemd names in $NOTIFY_SOCKET.
 *
 * Node cannot send unix datagrams, so this goes through the optional native package unix-dgram.
 * It is loaded only when a notifier is opened: unicorn installs and runs without it unless the
 * systemd hooks are used.
 */
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import type * as UnixDgram from 'unix-dgram';
import { badValue, show, UnicornError } from '../../src/shared/errors';
import { ExitCode } from '../../src/shared/exit-codes';
import { MAX_SOCKET_PATH_BYTES } from '../../src/shared/socket-path';

/** Assignments such as `{ READY: 1, STATUS: 'serving' }`, or the datagram's text as sd_notify(3) takes it. */
export type NotifyState = Readonly<Record<string, string | number>> | string;

export interface Notifier {
  /**
   * Send `state` to systemd as one datagram. Resolves once the kernel has queued it. Never throws:
   * a refused state or a failed send (systemd went away: ECONNREFUSED) rejects, naming the socket.
   */
  notify(state: NotifyState): Promise<void>;
  /** Later notify() calls reject. */
  close(): void;
  /** $NOTIFY_SOCKET, as systemd set it. */
  readonly socket: string;
}

/**
 * A notifier for the socket in `env.NOTIFY_SOCKET`; undefined when it is unset or empty (unicorn is
 * not run by systemd, or notification was turned off). Throws a UnicornError when the socket is not
 * a path unix-dgram can send to, or when unix-dgram is not installed or does not load.
 */
export function openNotifier(env: NodeJS.ProcessEnv = process.env): Notifier | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  checkSocket(socket);
  const unix = loadUnixDgram();
  let closed = false;
  return {
    socket,
    notify: (state) =>
      new Promise<void>((resolve, reject) => {
        if (closed) throw failed(socket, 'the notifier is closed');
        const datagram = Buffer.from(format(state));
        // A socket per datagram, as libsystemd does: nothing is held open between notifications (an
        // open unix-dgram socket would keep the event loop alive), and the datagram is addressed by
        // path each time, so it reaches a systemd that re-executed and bound the path anew.
        let sender: UnixDgram.UnixDgramSocket;
        try {
          sender = unix.createSocket('unix_dgram');
        } catch (err) {
          throw sendFailed(socket, err);
        }
        try {
          // The callback runs before send() returns.
          sender.send(datagram, 0, datagram.length, socket, (err) => (err ? reject(sendFailed(socket, err)) : resolve()));
        } finally {
          sender.close();
        }
      }),
    close: () => {
      closed = true;
    },
  };
}

/** Newline-separated KEY=value lines, per sd_notify(3). A string is sent as it is. */
function format(state: NotifyState): string {
  if (typeof state === 'string') {
    if (state === '') throw badValue('the sd_notify state', state, 'KEY=value lines such as "READY=1"');
    return state;
  }
  const entries = Object.entries(state);
  if (entries.length === 0) throw badValue('the sd_notify state', '{}', 'at least one assignment, such as { READY: 1 }');
  return entries
    .map(([key, value]) => {
      if (key === '' || /[=\n]/.test(key)) {
        throw badValue('the sd_notify field name', key, 'a name without "=" or newlines, such as STATUS');
      }
      if (typeof value === 'number' && !Number.isSafeInteger(value)) {
        throw badValue(`the sd_notify field ${key}`, value, 'an integer');
      }
      if (typeof value === 'string' && value.includes('\n')) {
        // A newline would start another assignment: a STATUS could set MAINPID.
        throw badValue(`the sd_notify field ${key}`, value, 'a value on one line');
      }
      return `${key}=${value}`;
    })
    .join('\n');
}

function checkSocket(socket: string): void {
  if (socket.startsWith('@')) {
    throw unsupported(
      socket,
      'it names an abstract-namespace socket, and unix-dgram, which sends the datagrams, can only ' +
        'address sockets by path (it copies the address as a C string, so the leading NUL that ' +
        'marks an abstract name ends it); expected a socket path such as /run/systemd/notify',
    );
  }
  if (!socket.startsWith('/')) {
    throw unsupported(socket, 'expected an absolute socket path such as /run/systemd/notify ("vsock:" addresses are not supported)');
  }
  // unix-dgram would cut a longer path short, silently.
  const bytes = Buffer.byteLength(socket);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw unsupported(socket, `it is ${bytes} bytes long, and a unix socket path holds at most ${MAX_SOCKET_PATH_BYTES}`);
  }
}

function loadUnixDgram(): typeof UnixDgram {
  try {
    return require('unix-dgram') as typeof UnixDgram;
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const reason =
      code === 'MODULE_NOT_FOUND' && message.includes("'unix-dgram'")
        ? 'which is not installed. It is an optional dependency of unicorn, left out when its native ' +
          'addon fails to build (node-gyp needs python3, make and a C++ compiler): run ' +
          '`npm install unix-dgram` and read its build output'
        : `which is installed but does not load in Node.js ${process.version} (${message.replace(/\s+/g, ' ')}). ` +
          'It was probably built for another Node.js version: run `npm rebuild unix-dgram` with this node ' +
          "first on PATH, and npm's nodedir, if set, pointing at this node's headers";
    throw new UnicornError(
      'UNICORN_NOTIFY_UNAVAILABLE',
      `NOTIFY_SOCKET is set, and notifying systemd needs the package unix-dgram, ${reason}`,
      ExitCode.ERROR,
      { cause: err },
    );
  }
}

const unsupported = (socket: string, reason: string): UnicornError =>
  new UnicornError(
    'UNICORN_NOTIFY_SOCKET_UNSUPPORTED',
    `cannot notify systemd at NOTIFY_SOCKET ${show(socket)}: ${reason}`,
    ExitCode.USAGE,
  );

const failed = (socket: string, reason: string, cause?: unknown): UnicornError =>
  new UnicornError('UNICORN_NOTIFY_FAILED', `cannot notify systemd at NOTIFY_SOCKET ${show(socket)}: ${reason}`, ExitCode.ERROR, {
    cause,
  });

/** unix-dgram's errors carry only the negative errno number; say its name and what it means. */
function sendFailed(socket: string, err: unknown): UnicornError {
  const { errno, message } = err as Partial<UnixDgram.UnixDgramError>;
  if (typeof errno !== 'number' || errno >= 0) return failed(socket, String(message ?? err), err);
  const name = getSystemErrorName(errno);
  const hint = name === 'ECONNREFUSED' || name === 'ENOENT' ? ': is systemd still listening there?' : '';
  return failed(socket, `${name} (${getSystemErrorMessage(errno).toLowerCase()})${hint}`, err);
}
