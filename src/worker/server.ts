import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WorkerClass } from '../config/settings';
import type { Logger } from '../log';
import type { AcceptGate } from './accept';
import type { Handler, NodeListener } from './handler';

export interface WorkerServerOptions {
  workerClass: WorkerClass;
  workerConnections: number;
  keepAlive: number;
}

/** How often a draining worker closes connections that have gone idle after their last response. */
const DRAIN_SWEEP_MS = 50;
/** sync: while requests take this long on average, the worker accepts one connection at a time. */
const SLOW_REQUEST_MS = 5;
/** sync: the weight of the latest request in that average. One request held up by the scheduler
 *  on a loaded machine must not make a fast app look slow. */
const SERVICE_TIME_WEIGHT = 0.2;

/**
 * A worker's HTTP side: Node's own http.Server (never listening itself; the accept gate hands it
 * connections), the request dispatch for the worker class, and the graceful drain.
 *
 * - `sync`: one request at a time, `Connection: close` on every response. A request still in flight
 *   after the event-loop turn it arrived in pauses the gate until it is done, so new connections go
 *   to other workers instead of queuing behind it. While requests are slow on average (and before
 *   the first one has been timed), the worker also pauses as soon as it accepts a connection, so
 *   that a burst of clients is spread over the workers instead of being taken by the first one to
 *   wake. While requests are fast a burst is cheaper to serve than to spread, and pausing (which
 *   costs a round trip to the arbiter) is skipped.
 * - `async`: concurrent requests with keep-alive; at `--worker-connections` open connections the
 *   gate is paused until one closes.
 */
export class WorkerServer {
  readonly http: http.Server;
  private readonly sync: boolean;
  /** Every response gets `Connection: close`: sync, or async with --keep-alive 0. */
  private readonly closeEach: boolean;
  private readonly connectionLimit: number;
  private readonly sockets = new Set<Socket>();
  private draining = false;
  private onDrained: (() => void) | undefined;
  /** sync: a request is being handled. */
  private busy = false;
  /** sync: requests that arrived while busy (an accept that raced the pause, or pipelining). */
  private readonly waiting: Array<[IncomingMessage, ServerResponse]> = [];
  /** sync: moving average of request durations (ms); unknown until the first request is done. */
  private serviceMs: number | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly gate: AcceptGate,
    options: WorkerServerOptions,
    private readonly log: Logger,
  ) {
    this.sync = options.workerClass === 'sync';
    this.closeEach = this.sync || options.keepAlive === 0;
    this.connectionLimit = this.sync ? 1 : options.workerConnections;
    this.http = http.createServer();
    this.http.keepAliveTimeout = options.keepAlive;
    this.http.on('request', this.sync ? this.dispatchSync : this.dispatch);
    for (const listener of handler.upgrade) this.http.on('upgrade', listener);
    // The server never listens, but its connection tracking (idle-connection closing, header and
    // request timeouts) starts on 'listening'.
    this.http.emit('listening');
  }

  /** Start accepting. */
  start(): void {
    this.updateGate();
  }

  /** Called by the gate for each accepted connection. */
  readonly onConnection = (socket: Socket): void => {
    this.sockets.add(socket);
    socket.once('close', () => this.onConnectionClose(socket));
    if (this.sockets.size >= this.limit()) this.gate.pause();
    this.http.emit('connection', socket);
  };

  private onConnectionClose(socket: Socket): void {
    this.sockets.delete(socket);
    if (this.draining) {
      if (this.sockets.size === 0) this.onDrained?.();
    } else {
      this.updateGate();
    }
  }

  /** How many open connections the worker takes before it pauses. */
  private limit(): number {
    if (!this.sync) return this.connectionLimit;
    return this.serviceMs === undefined || this.serviceMs >= SLOW_REQUEST_MS ? 1 : Infinity;
  }

  private updateGate(): void {
    if (!this.draining && !this.busy && this.sockets.size < this.limit()) this.gate.resume();
    else this.gate.pause();
  }

  private readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.closeEach || this.draining) res.shouldKeepAlive = false;
    try {
      const result = (this.handler.listener as NodeListener)(req, res) as PromiseLike<unknown> | undefined;
      if (result != null && typeof result.then === 'function') {
        result.then(undefined, (err: unknown) => this.fail(err, req, res));
      }
    } catch (err) {
      this.fail(err, req, res);
    }
  };

  private readonly dispatchSync = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.busy) this.waiting.push([req, res]);
    else this.runSync(req, res);
  };

  private runSync(req: IncomingMessage, res: ServerResponse): void {
    this.busy = true;
    const started = performance.now();
    this.dispatch(req, res);
    if (res.writableEnded) {
      this.syncDone(started);
      return;
    }
    res.once('close', () => this.syncDone(started));
    // Still busy once the events that came with this one are handled: stop taking connections.
    setImmediate(() => {
      if (this.busy) this.updateGate();
    });
  }

  private syncDone(started: number): void {
    const took = performance.now() - started;
    this.serviceMs = this.serviceMs === undefined ? took : this.serviceMs + SERVICE_TIME_WEIGHT * (took - this.serviceMs);
    this.busy = false;
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      const [req, res] = next;
      if (res.destroyed || req.socket.destroyed) continue;
      this.runSync(req, res);
      if (this.busy) return;
    }
    this.updateGate();
  }

  /** The app threw or rejected: answer 500 if nothing was sent yet, else cut the connection. */
  private fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.log.error({ err, method: req.method, url: req.url }, `Error handling request ${req.method} ${req.url}`);
    if (res.writableEnded) return;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const body = 'Internal Server Error\n';
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  }

  /**
   * Graceful stop: accept nothing more, close idle keep-alive connections at once, answer requests
   * in flight whose headers are not sent yet, and any still to come, with `Connection: close`, and
   * resolve once every connection has closed.
   */
  async drain(): Promise<void> {
    this.draining = true;
    this.gate.close();
    for (const socket of this.sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    this.http.closeIdleConnections();
    if (this.sockets.size === 0) return;
    const sweep = setInterval(() => this.http.closeIdleConnections(), DRAIN_SWEEP_MS);
    await new Promise<void>((resolve) => (this.onDrained = resolve));
    clearInterval(sweep);
  }
}
