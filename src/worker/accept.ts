import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import type { Logger } from '../shared/log';
import { AcceptBackoff } from './accept-backoff';

/** net.Server's own listen, kept before `refuseAppListen` replaces it for the app. */
const listen = net.Server.prototype.listen;

/** A listening socket's handle as it arrives over IPC: a libuv TCP or Pipe wrap. */
export interface RawHandle {
  close(): void;
}

interface Slot {
  /** Accepting on one copy of the listener, or null while paused. */
  server: net.Server | null;
  /** Copies not yet listened on: the next resume takes one. */
  spares: RawHandle[];
  /** Copies asked of the arbiter and not yet received. */
  outstanding: number;
}

/** Copies of each listener a worker keeps: the one it accepts on and a spare to resume with. */
const COPIES = 2;
/** Taking the queue waits this long at most for a back-off's pause to end (accept-backoff.ts),
 *  then accepts all the same: closing the last copies would reset every connection queued. */
const TAKE_WAITS_FOR_BACKOFF_MS = 2000;
/** How often a take waiting for the back-off looks again. */
const BACKOFF_LOOK_MS = 10;

export interface AcceptGateOptions {
  listenerCount: number;
  /** Passed to listen(2) again on every copy: it must match what the arbiter bound with. */
  backlog: number;
  onConnection: (socket: net.Socket) => void;
  /** Connections arrive paused, nothing read (sync: one not started yet can go back to the arbiter). */
  pauseOnConnect: boolean;
  /** Ask the arbiter for another copy of listener `index`. */
  requestHandle: (index: number) => void;
  /** Called once, the first time the worker accepts on every listener. */
  onListening: () => void;
  /** The worker's open-file limit, if known: accepting backs off short of it. */
  descriptorLimit: number | undefined;
  log: Logger;
}

/**
 * Where a worker accepts connections: one copy (file descriptor) of each of the arbiter's listening
 * sockets. Node has no way to stop accepting on a listening handle short of closing it, so pausing
 * closes this worker's copy — the socket itself stays open in the arbiter and the other workers, and
 * connections wait in its backlog or go to another worker — and resuming listens on a spare copy
 * while another is fetched from the arbiter. The worker asks for every copy it holds, starting with
 * two of each listener at boot. Pausing is how `sync` workers stay at one request and
 * `async` workers at `--worker-connections`; the gate also pauses itself for a while when the worker
 * runs out of file descriptors (accept-backoff.ts).
 */
export class AcceptGate {
  private readonly slots: Slot[];
  /** The server wants connections (it may still be backing off). */
  private open = false;
  /** Stopping for good: `taking` accepts what is queued first, on every copy, paused or not;
   *  `closed` accepts nothing. Either way no more copies are asked for. */
  private ending: 'taking' | 'closed' | undefined;
  /** The take of the queue under way (close(true)). */
  private taking: Promise<void> | undefined;
  /** Connections accepted so far, and copies listened on. */
  private accepted = 0;
  private listened = 0;
  private announced = false;
  private readonly backoff: AcceptBackoff;

  constructor(private readonly options: AcceptGateOptions) {
    this.slots = Array.from({ length: options.listenerCount }, () => ({ server: null, spares: [], outstanding: 0 }));
    for (let index = 0; index < this.slots.length; index++) this.topUp(index);
    this.backoff = new AcceptBackoff(
      options.descriptorLimit,
      { stop: () => this.closeCopies(), restart: () => this.listenAll() },
      options.log,
    );
  }

  /**
   * A copy of listener `index` arrived from the arbiter. Once closed the gate still keeps it: it
   * may be the last copy of the worker's socket, sent with a hand-over that comes after the
   * worker began to stop on its own (a signal, --max-worker-memory), and close(true) then takes
   * what is queued on it. Otherwise close() closes it, or the worker's exit does: the arbiter
   * holds a copy of any other, so holding it changes nothing meanwhile.
   */
  addHandle(index: number, handle: RawHandle): void {
    const slot = this.slots[index];
    if (!slot) {
      handle.close();
      return;
    }
    slot.outstanding = Math.max(0, slot.outstanding - 1);
    slot.spares.push(handle);
    if (this.accepting && !slot.server) this.listen(index);
    else this.topUp(index);
  }

  /** A spare copy of listener `index` for the arbiter to accept on while no worker runs
   *  (--idle-timeout), or undefined for none just now. Sent as a raw handle, it stays open here
   *  and stays this gate's spare; the one accepted on is not lent, as a pause closes it. */
  lend(index: number): RawHandle | undefined {
    return this.ending === undefined ? this.slots[index]?.spares[0] : undefined;
  }

  /** Accept on every listener (idempotent). */
  resume(): void {
    if (this.open) return;
    this.open = true;
    this.listenAll();
  }

  /** Stop accepting; connections already accepted are not touched (idempotent). While the queue
   *  is taken it changes nothing. */
  pause(): void {
    if (!this.open) return;
    this.open = false;
    if (!this.accepting) this.closeCopies();
  }

  private get accepting(): boolean {
    return (this.ending === 'taking' || (this.open && this.ending === undefined)) && !this.backoff.pausing;
  }

  private listenAll(): void {
    if (!this.accepting) return;
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]!.server) this.listen(i);
  }

  /** Stop accepting (a pause, or the back-off's). While the queue is taken, a copy with no spare
   *  behind it may be the socket's last, and closing it would reset everything queued: it stays,
   *  and accepts on through the back-off, which at worst loses what libuv's EMFILE trick closes. */
  private closeCopies(): void {
    this.slots.forEach((slot, index) => {
      if (this.ending === 'taking' && slot.spares.length === 0) return;
      slot.server?.close();
      slot.server = null;
      this.topUp(index);
    });
  }

  /**
   * Stop accepting for good and let go of every copy; resolves once closed. Called again, closed,
   * it closes the copies that arrived since.
   *
   * `takeQueued`: this worker holds the last copies of its sockets (--reuse-port: the arbiter has
   * let go of them), and closing the last copy resets every connection queued on a socket. So it
   * first accepts on every listener, paused or not, until a poll of the event loop finds nothing
   * to accept (libuv accepts one connection per listener and poll: uv__server_io), and closes
   * right after: what arrives between that poll and the close is all that is reset
   * (docs/DESIGN.md). That works closed too, on the copies kept since (addHandle). A back-off's
   * pause is waited out first (TAKE_WAITS_FOR_BACKOFF_MS at most): polls meanwhile accept nothing.
   * A flood that never lets up is cut off by the worker's --graceful-timeout.
   */
  close(takeQueued = false): Promise<void> {
    if (takeQueued) {
      this.taking ??= this.takeQueued();
      return this.taking;
    }
    if (this.taking) return this.taking;
    this.closeForGood();
    return Promise.resolve();
  }

  private async takeQueued(): Promise<void> {
    this.ending = 'taking';
    const giveUpAt = performance.now() + TAKE_WAITS_FOR_BACKOFF_MS;
    this.listenAll();
    let seen = -1;
    let listened = this.listened;
    for (;;) {
      // The first look may come before the next poll (a copy listened on now is polled then);
      // each later one comes right after a poll.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.backoff.pausing) {
        if (performance.now() < giveUpAt) {
          await new Promise((resolve) => setTimeout(resolve, BACKOFF_LOOK_MS));
          continue;
        }
        this.backoff.stop();
      }
      this.listenAll();
      // A copy listened on since the last look (the back-off's restart, a late copy) has had no poll yet.
      if (this.listened !== listened) {
        listened = this.listened;
        seen = -1;
      }
      if (this.accepted === seen) break;
      seen = this.accepted;
    }
    this.taking = undefined;
    this.closeForGood();
  }

  private closeForGood(): void {
    // First: closing the copies asks the arbiter for no new ones (topUp).
    this.ending = 'closed';
    this.backoff.stop();
    for (const slot of this.slots) {
      slot.server?.close();
      slot.server = null;
      for (const handle of slot.spares.splice(0)) handle.close();
    }
  }

  /** A connection was accepted: count it, and hand it on once the back-off has seen the descriptor
   *  it took (a pause then closes the copy before the next poll accepts on it). */
  private readonly onConnection = (socket: net.Socket): void => {
    this.accepted++;
    this.backoff.tookOne((socket as { _handle?: { fd?: number } })._handle?.fd);
    this.options.onConnection(socket);
  };

  private listen(index: number): void {
    const slot = this.slots[index]!;
    const handle = slot.spares.shift();
    if (handle) {
      // The same socket options http.Server gives the connections it accepts itself.
      const server = net.createServer(
        { allowHalfOpen: true, noDelay: true, pauseOnConnect: this.options.pauseOnConnect },
        this.onConnection,
      );
      server.on('error', (err: NodeJS.ErrnoException) => {
        // An accept that failed for want of a descriptor: libuv since 1.45 (Node 22, 24) reports
        // none, trick or not; kept for one that does. The back-off's count catches it there.
        if (err.code === 'EMFILE' || err.code === 'ENFILE') this.backoff.acceptFailed(err.code);
        else this.options.log.error({ err, listener: index }, 'Listener copy failed');
      });
      listenOnHandle(server, handle, this.options.backlog);
      slot.server = server;
      this.listened++;
      this.announceOnce();
    }
    this.topUp(index);
  }

  /** Ask the arbiter for copies until this slot has (or will have) its active one and a spare. */
  private topUp(index: number): void {
    const slot = this.slots[index]!;
    while (this.ending === undefined && slot.spares.length + slot.outstanding + (slot.server ? 1 : 0) < COPIES) {
      slot.outstanding++;
      this.options.requestHandle(index);
    }
  }

  private announceOnce(): void {
    if (this.announced || this.slots.some((slot) => !slot.server)) return;
    this.announced = true;
    this.options.onListening();
  }
}

/**
 * Listen on a handle received from the arbiter. A TCP handle goes through the public
 * `server.listen(handle)`, which listens on it directly. A Pipe (unix socket) handle cannot: in a
 * cluster worker Node sends `listen({ fd })` to the primary to be bound again there, which fails. So
 * the handle is adopted the way net.Server adopts one it created itself.
 */
function listenOnHandle(server: net.Server, handle: RawHandle, backlog: number): void {
  if (handle.constructor.name === 'TCP') {
    (listen as (handle: unknown, backlog: number) => net.Server).call(server, handle, backlog);
    return;
  }
  const internal = server as unknown as {
    _handle: RawHandle | null;
    _listen2(address: null, port: number, addressType: number, backlog: number): void;
  };
  internal._handle = handle;
  internal._listen2(null, -1, -1, backlog);
}

/**
 * An app must not listen itself: in a cluster worker node:cluster would have the arbiter bind that
 * port and accept on it. A `listen()` while the app loads (`app.listen(3000)` at the bottom of many
 * Express apps, `await fastify.listen()`) throws, so loading fails with a message that says what to
 * change; one made later, by an app already being served, is ignored with a warning. --check-config
 * loads the app under the same rule, with no logger: nothing is served there.
 */
export function refuseAppListen(log: Logger | undefined, addresses: string[], booted: () => boolean): void {
  net.Server.prototype.listen = function refusedListen(this: net.Server, ...args: unknown[]) {
    const what = typeof args[0] === 'function' || args[0] === undefined ? '' : inspect(args[0], { breakLength: Infinity });
    const call = `listen(${what})`;
    if (!booted()) {
      throw new Error(
        `the app called ${call} itself; unicorn listens for it (at ${addresses.join(', ')}): ` +
          `export the app without listening, for example behind ${mainGuard(callerIsEsModule())}`,
      );
    }
    log?.warn(`The app called ${call} itself; ignored: unicorn serves it at ${addresses.join(', ')}`);
    return this;
  } as typeof net.Server.prototype.listen;
}

/** unicorn's own compiled code, whose frames are not the app's. */
const OWN_CODE = path.join(__dirname, '..');

/**
 * Whether the code that called listen() is an ES module: the outermost frame of the app's (its
 * module's top level, or a callback in it) is a file: URL in an ES module and a path in CommonJS,
 * however Node decided which the file is (extension, package.json `type`, or syntax detection).
 */
function callerIsEsModule(): boolean {
  const limit = Error.stackTraceLimit;
  // Deep enough to get past a framework's own frames (app.listen → http.Server.listen).
  Error.stackTraceLimit = 100;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const files = stack
    .split('\n')
    .slice(1)
    // `at f (LOCATION)`, `at LOCATION`, `at async LOCATION`; node:internal frames are no file's.
    .map((frame) => /(?:\(|^\s*at (?:async )?)((?:file:\/\/)?\/[^()]*):\d+:\d+\)?$/.exec(frame)?.[1])
    .filter((file): file is string => file !== undefined && !(file.startsWith('file:') ? fileURLToPath(file) : file).startsWith(OWN_CODE));
  return files.at(-1)?.startsWith('file://') ?? false;
}

/** How a module runs what it does only when it is the program itself: `require.main === module` in
 *  CommonJS; in an ES module, `import.meta.main` where this Node has it (22.18, 24.2 and later). */
function mainGuard(esModule: boolean): string {
  if (!esModule) return '`if (require.main === module)`';
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major > 24 || (major === 24 && minor >= 2) || (major === 22 && minor >= 18)) return '`if (import.meta.main)`';
  return "`if (import.meta.url === pathToFileURL(process.argv[1]).href)` (pathToFileURL from 'node:url')";
}
