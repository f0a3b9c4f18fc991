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

/**
 * A worker's HTTP side: Node's own http.Server (never listening itself; the accept gate hands it
 * connections), the request dispatch for the worker class, and the graceful drain.
 *
 * - `sync`: one request at a time, `Connection: close` on every response. While a request is in
 *   flight past the turn of the event loop it arrived in, the gate is paused, so new connections go
 *   to other workers instead of queuing behind it.
 * - `async`: concurrent requests with keep-alive; at `--worker-connections` open connections the
 *   gate is paused until one closes.
 */
export class WorkerServer {
  readonly http: http.Server;
  private readonly sync: boolean;
  private connections = 0;
  private draining = false;
  private onDrained: (() => void) | undefined;
  /** sync: a request is being handled. */
  private busy = false;
  /** sync: requests that arrived while busy (a race of the accept, or pipelining). */
  private readonly waiting: Array<[IncomingMessage, ServerResponse]> = [];

  constructor(
    private readonly handler: Handler,
    private readonly gate: AcceptGate,
    private readonly options: WorkerServerOptions,
    private readonly log: Logger,
  ) {
    this.sync = options.workerClass === 'sync';
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
    this.connections++;
    socket.once('close', this.onConnectionClose);
    if (!this.sync && this.connections >= this.options.workerConnections) this.gate.pause();
    this.http.emit('connection', socket);
  };

  private readonly onConnectionClose = (): void => {
    this.connections--;
    if (this.draining) {
      if (this.connections === 0) this.onDrained?.();
    } else if (!this.sync) {
      this.updateGate();
    }
  };

  private updateGate(): void {
    const accept = !this.draining && (this.sync ? !this.busy : this.connections < this.options.workerConnections);
    if (accept) this.gate.resume();
    else this.gate.pause();
  }

  private readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.draining) res.shouldKeepAlive = false;
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
    res.shouldKeepAlive = false;
    if (this.busy) this.waiting.push([req, res]);
    else this.runSync(req, res);
  };

  private runSync(req: IncomingMessage, res: ServerResponse): void {
    this.busy = true;
    this.dispatch(req, res);
    if (res.writableEnded) {
      this.busy = false;
      this.runWaiting();
      return;
    }
    res.once('close', this.syncDone);
    // Still busy once the events that came with this one are handled: stop taking connections.
    setImmediate(() => {
      if (this.busy) this.updateGate();
    });
  }

  private readonly syncDone = (): void => {
    this.busy = false;
    this.runWaiting();
    if (!this.busy) this.updateGate();
  };

  private runWaiting(): void {
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      const [req, res] = next;
      if (res.destroyed || req.socket.destroyed) continue;
      this.runSync(req, res);
      if (this.busy) return;
    }
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
   * still to come on open connections with `Connection: close`, and resolve once every connection
   * has closed.
   */
  async drain(): Promise<void> {
    this.draining = true;
    this.gate.close();
    this.http.closeIdleConnections();
    if (this.connections === 0) return;
    const sweep = setInterval(() => this.http.closeIdleConnections(), DRAIN_SWEEP_MS);
    await new Promise<void>((resolve) => (this.onDrained = resolve));
    clearInterval(sweep);
  }
}
