/**
 * The `async` worker class: concurrent requests with keep-alive. At `--worker-connections` open
 * connections the gate is paused until one closes. Asked to shed (the arbiter's balancing), it closes
 * its excess keep-alive connections after their next responses, paused meanwhile.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WorkerClassBehaviour, WorkerClassOptions, WorkerCore } from './worker-class';

/** Shedding: how long the gate stays paused once the last connection to shed has had its closing
 *  response, so that its client's reconnection goes to another worker; and the longest a shed lasts,
 *  for connections that get no response meanwhile (idle ones). */
const SHED_HOLD_MS = 200;
const SHED_MAX_MS = 1000;

/** Marks a socket being shed: its response says `Connection: close`. */
const SHED = Symbol('shed');
type ShedSocket = Socket & { [SHED]?: true };

export class AsyncWorker implements WorkerClassBehaviour {
  static readonly pausedAccept = false;
  static readonly oneStreamAtATime = false;

  readonly dispatch: (req: IncomingMessage, res: ServerResponse) => void;
  /** Every response gets `Connection: close`: --keep-alive 0. */
  private readonly closeEach: boolean;
  /** Open connections before the gate pauses. */
  private readonly workerConnections: number;
  /** Shedding: connections still to close after their next response, and the timer that ends the
   *  shed (and its pause). */
  private toShed = 0;
  private shedTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly core: WorkerCore,
    options: WorkerClassOptions,
  ) {
    // Every request goes to the app as it comes: nothing in between.
    this.dispatch = core.run;
    this.closeEach = options.keepAlive === 0;
    this.workerConnections = options.workerConnections;
  }

  start(): void {
    this.updateGate();
  }

  accepted(socket: Socket): void {
    this.core.open(socket, false);
    if (this.core.sockets.size >= this.workerConnections) this.core.gate.pause();
  }

  /** Served as one of its own; a worker that is stopping gives it back (keeping it only when there
   *  is no arbiter to take it). */
  adopt(socket: Socket): void {
    if (this.core.draining && this.core.events.handBack([socket], 'stopping')) return;
    this.core.open(socket, true);
    if (this.core.sockets.size >= this.workerConnections) this.core.gate.pause();
  }

  /** The arbiter holds connections only for sync workers. */
  holding(): void {}

  /** Never asks the arbiter for connections, so never gets this answer. */
  noConnection(): void {}

  /**
   * Keep `keep` connections and close the rest, each after its next response (`Connection: close`):
   * the arbiter's balancing found this worker with more than its share while others have less. Its
   * clients reconnect, and with this worker's gate paused until they have, the kernel gives the new
   * connections to the others. No request is cut: a connection closes only where a response ends it.
   * The connections that answer first go; idle ones stay (SHED_MAX_MS).
   */
  shed(keep: number): void {
    const { sockets, draining, log } = this.core;
    const excess = sockets.size - keep;
    if (this.closeEach || draining || this.shedTimer || excess <= 0) return;
    this.toShed = excess;
    this.shedTimer = setTimeout(this.endShed, SHED_MAX_MS);
    this.updateGate();
    log.debug({ connections: sockets.size, keep }, `Shedding ${excess} keep-alive connections to other workers`);
  }

  /** Without a socket (HTTP/2's responses), only what applies to every connection. At
   *  --worker-connections the gate is paused and clients may wait in the backlog, behind keep-alive
   *  clients that would hold their places for good; each response closes its connection (told, so no
   *  request is lost), and the waiting take turns. Reconnects cost only at saturation. */
  mustClose(socket: Socket | null | undefined): boolean {
    return this.closeEach || (!!socket && (this.core.sockets.size >= this.workerConnections || (this.toShed > 0 && this.shedding(socket))));
  }

  connectionClosed(): void {
    if (!this.core.draining) this.updateGate();
    else if (this.core.sockets.size === 0) this.core.drained();
  }

  inFlight(): number {
    return this.core.responding();
  }

  describeInFlight(): string[] {
    return [`${this.core.sockets.size} open connections`];
  }

  /** The heartbeat goes on whatever is in flight: --timeout catches a stuck event loop only. */
  holdsHeartbeat(): boolean {
    return false;
  }

  drainBegins(): void {
    clearTimeout(this.shedTimer);
  }

  acceptingEnded(): void {
    if (this.core.sockets.size === 0) this.core.drained();
  }

  private updateGate(): void {
    if (!this.core.draining && this.core.sockets.size < this.workerConnections && this.shedTimer === undefined) this.core.gate.resume();
    else this.core.gate.pause();
  }

  /** While shedding: this response's connection is one to shed (counted once). */
  private shedding(socket: ShedSocket): boolean {
    if (socket[SHED]) return true;
    socket[SHED] = true;
    if (--this.toShed === 0) {
      clearTimeout(this.shedTimer);
      this.shedTimer = setTimeout(this.endShed, SHED_HOLD_MS);
    }
    return true;
  }

  private readonly endShed = (): void => {
    this.toShed = 0;
    this.shedTimer = undefined;
    if (!this.core.draining) this.updateGate();
  };
}
