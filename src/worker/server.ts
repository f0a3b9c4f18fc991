import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { WorkerClass } from '../config/settings';
import type { RequestInfo } from '../hooks/types';
import type { Logger } from '../log';
import type { AcceptGate } from './accept';
import type { AccessLog, ResponseClass } from './access-log';
import { forwardedResponseClass } from './forwarded';
import type { Handler } from './handler';
import { inherited } from './own';
import { readProxyHeader, type ProxyProtocolOptions } from './proxy-protocol';
import type { SecureServer, TlsServing } from './tls';
import { RequestGuard, type RequestLimits } from './limits';

export interface WorkerServerOptions extends RequestLimits {
  workerClass: WorkerClass;
  workerConnections: number;
  keepAlive: number;
  /** Requests after which `onLimit` is called, once; 0 for never. */
  maxRequests: number;
  /** Where each request is logged; without one, requests pay nothing for logging. */
  accessLog?: AccessLog;
  /** Applies a trusted proxy's forwarded headers to each request (forwarded.ts); without, requests skip it. */
  forwarded?: (req: IncomingMessage) => void;
  /** --proxy-protocol: each connection's PROXY header is read before the parser sees it (proxy-protocol.ts);
   *  without, connections go straight to the parser. */
  proxyProtocol?: ProxyProtocolOptions;
  /** With --certfile: serve HTTPS (and HTTP/2 with --http2) instead of plain HTTP. */
  tls?: TlsServing;
}

/** What the worker's supervision learns from the server. */
export interface WorkerServerEvents {
  /** The server has served `maxRequests` requests. */
  onLimit(): void;
  /** sync: a request starts, or is done and the worker is free. */
  onSyncRequest(): void;
  /** Send connections not started, unread, to the arbiter for a free worker (sync: busy or
   *  stopping; async: passed one while stopping); false, sending none, when there is no arbiter to
   *  take them. */
  handBack(sockets: Socket[], why: 'busy' | 'stopping'): boolean;
  /** sync: tell the arbiter the worker is free (`stopping`: and has nothing left to serve), which
   *  answers with adopt() or noConnection(); false when there is no arbiter to ask. */
  free(stopping: boolean): boolean;
}

/** The per-request hooks a worker's plugins have (none: requests take the plain path). */
export interface RequestHooks {
  /** preRequest: a failure (thrown or rejected) answers 500, and the app never sees the request. */
  pre?: (req: IncomingMessage) => Promise<void> | undefined;
  /** postRequest, once the response is done or its connection lost. */
  post?: (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => void;
}

/** How often a draining worker closes connections that have gone idle after their last response. */
const DRAIN_SWEEP_MS = 50;
/** sync: while requests take this long on average, the worker accepts one connection at a time. */
const SLOW_REQUEST_MS = 5;
/** sync: the weight of the latest request in that average, and the most one request counts for.
 *  One request held up by the scheduler on a loaded machine must not make a fast app look slow. */
const SERVICE_TIME_WEIGHT = 0.2;
const SERVICE_TIME_CAP_MS = 4 * SLOW_REQUEST_MS;
/** sync: a request this long makes clients it holds up wait noticeably. After a second one within
 *  SLOW_REQUEST_MEMORY_MS of the one before, the worker takes one connection at a time for that long,
 *  whatever the average says. An app whose occasional request holds the CPU for 100 ms is fast on
 *  average; without this, a connection accepted just before such a request waits it out. One such
 *  request alone (a cold first call of a route) does not switch the worker over, and a fast
 *  request the scheduler held up on a loaded machine seldom takes this long, let alone twice. */
const HOLDING_REQUEST_MS = 50;
const SLOW_REQUEST_MEMORY_MS = 10_000;
/** sync: after starting a connection, how long the worker waits for its request before it starts
 *  another, or (taking one connection at a time) accepts again (a client that connects early and
 *  sends nothing must not hold it). */
const IDLE_CONNECTION_GRACE_MS = 100;
/** sync: how long a free worker waits for the arbiter's answer to `free` before it accepts again.
 *  The arbiter answers at once unless it is stopped or frozen; clients must not wait that out. */
const ARBITER_ANSWER_MS = 100;
/** async, shedding (WorkerServer.shed): how long the gate stays paused once the last connection to
 *  shed has had its closing response, so that its client's reconnection goes to another worker;
 *  and the longest a shed lasts, for connections that get no response meanwhile (idle ones). */
const SHED_HOLD_MS = 200;
const SHED_MAX_MS = 1000;

/**
 * A worker's HTTP side: Node's own http.Server (never listening itself; the accept gate hands it
 * connections), the request dispatch for the worker class, and the graceful drain.
 *
 * - `sync`: one request at a time, `Connection: close` on every response. Connections arrive paused
 *   and wait unread until the worker starts them, one at a time. A request still in flight after the
 *   event-loop turn it arrived in pauses the gate until it is done, so new connections go to other
 *   workers instead of queuing behind it, and hands the connections not started back to the arbiter
 *   (hand-back.ts), which passes each to a free worker: a busy worker holds only the request it
 *   started. While requests are slow on average (and before the first one has been timed), the
 *   worker also pauses as soon as it accepts a connection, so that a burst of clients is spread over
 *   the workers by the kernel, without handing back. While requests are fast a burst is cheaper to
 *   serve than to spread, and pausing (which costs a round trip to the arbiter) is skipped.
 * - `async`: concurrent requests with keep-alive; at `--worker-connections` open connections the
 *   gate is paused until one closes. Asked to shed (the arbiter's balancing), it closes its excess
 *   keep-alive connections after their next responses, paused meanwhile.
 */
export class WorkerServer {
  /** node:http's server, or with TLS an https or http2 one (tls.ts). */
  readonly http: Server;
  /** With TLS: the connections as node:http and node:http2 serve them. */
  private readonly secure: SecureServer | undefined;
  private readonly sync: boolean;
  /** Every response gets `Connection: close`: sync, or async with --keep-alive 0. */
  private readonly closeEach: boolean;
  /** async: open connections before the gate pauses. */
  private readonly workerConnections: number;
  private readonly sockets = new Set<Socket>();
  private draining = false;
  private drained: Promise<void> | undefined;
  /** Takes of the queue begun after the drain (takeLate) and not finished: the drain waits for them. */
  private lateTakes = 0;
  private sweep: NodeJS.Timeout | undefined;
  private onDrained: (() => void) | undefined;
  /** Requests dispatched to the app so far. */
  served = 0;
  private readonly maxRequests: number;
  /** sync: a request is being handled. */
  busy = false;
  /** sync: the request being handled and when it started, for a timeout's diagnosis. */
  private current: IncomingMessage | undefined;
  private currentStarted = 0;
  /** sync: requests that arrived while busy (an accept that raced the pause, or pipelining). */
  private readonly waiting: Array<[IncomingMessage, ServerResponse]> = [];
  /** sync: moving average of request durations (ms); unknown until the first request is done. */
  private serviceMs: number | undefined;
  /** sync: when the last request that took HOLDING_REQUEST_MS or longer ended, and until when the
   *  worker takes one connection at a time because of such requests. */
  private slowSeenAt = -Infinity;
  private carefulUntil = -Infinity;
  /** sync: connections accepted, or passed by the arbiter, and not given to the HTTP server yet:
   *  paused with nothing read, so that each can still go back to the arbiter whole. */
  private readonly unstarted: Socket[] = [];
  /** sync: the connection started last, while its first request is awaited; when it was started,
   *  and the timer that ends the wait. */
  private starting: Socket | undefined;
  private startedAt = -Infinity;
  private graceTimer: NodeJS.Timeout | undefined;
  /** async, shedding: connections still to close after their next response, and the timer that
   *  ends the shed (and its pause). */
  private toShed = 0;
  private shedTimer: NodeJS.Timeout | undefined;
  /** sync: handed back, was passed a connection or was told the arbiter holds some, since it last
   *  told the arbiter it is free. */
  private owesFree = false;
  /** sync: told the arbiter it is free, and takes no connection of its own until the answer (or
   *  the timer's end: ARBITER_ANSWER_MS). */
  private askedArbiter = false;
  private answerTimer: NodeJS.Timeout | undefined;
  private readonly proxyProtocol: ProxyProtocolOptions | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly gate: AcceptGate,
    options: WorkerServerOptions,
    private readonly log: Logger,
    private readonly events: WorkerServerEvents,
    private readonly hooks?: RequestHooks,
  ) {
    this.sync = options.workerClass === 'sync';
    this.maxRequests = options.maxRequests;
    this.closeEach = this.sync || options.keepAlive === 0;
    this.workerConnections = options.workerConnections;
    this.proxyProtocol = options.proxyProtocol;
    // Without a socket (HTTP/2's responses), only what applies to every connection.
    // async, at --worker-connections: the gate is paused and clients may wait in the backlog, behind
    // keep-alive clients that would hold their places for good; each response closes its connection
    // (told, so no request is lost), and the waiting take turns. Reconnects cost only at saturation.
    const mustClose = (socket?: Socket | null) =>
      this.closeEach || this.draining || (!!socket && (this.sockets.size >= this.workerConnections || (this.toShed > 0 && this.shedding(socket))));
    const { accessLog, forwarded } = options;
    let response = responseClass(mustClose);
    // Forwarded headers are applied as each response is made: before the access log notes the peer.
    if (forwarded) response = forwardedResponseClass(response, forwarded);
    // The access log sees each response from its making to its close, whatever happens to it
    // here: a sync request that waits its turn, and one whose client leaves meanwhile, are logged.
    // The guard checks each request against the limits before it is dispatched, and answers
    // every refusal, Node's parser's included (docs/security.md). A trusted proxy's forwarded
    // headers reach an upgrade request ahead of the app's own listeners.
    const upgrade: Handler['upgrade'] = forwarded && handler.upgrade.length > 0 ? [forwarded as Handler['upgrade'][number], ...handler.upgrade] : handler.upgrade;
    const guard = new RequestGuard(options, this.sync ? this.dispatchSync : this.dispatch, upgrade, log, accessLog);
    // sync: a request still in flight once handed over pauses the gate before the worker polls for
    // connections again; a poll first would accept one more, to wait behind that request.
    if (this.sync) {
      guard.afterHandOver = () => {
        if (this.busy) this.updateGate();
      };
    }
    if (options.tls) {
      // Loaded only with TLS: node:https and node:http2 add to every worker's boot otherwise.
      const { SecureServer } = require('./tls') as typeof import('./tls');
      const wrapResponse = <T extends ResponseClass>(base: T): T => (accessLog ? accessLog.responseClass(base) : base);
      const secureOptions = { keepAlive: options.keepAlive, oneStreamAtATime: this.sync, mustClose, http1Response: response, wrapResponse, http1Options: guard.serverOptions, headerTimeout: options.headerTimeout, forwarded, http2Request: guard.http2Request };
      this.secure = new SecureServer(options.tls, secureOptions, log);
      this.http = this.secure.server;
    } else {
      const server = http.createServer({ ...guard.serverOptions, ServerResponse: accessLog ? accessLog.responseClass(response) : response });
      server.keepAliveTimeout = options.keepAlive;
      this.http = server;
    }
    guard.install(this.http as http.Server);
    // The server never listens, but its connection tracking (idle-connection closing, header and
    // request timeouts) starts on 'listening'.
    this.http.emit('listening');
  }

  /** Start accepting. */
  start(): void {
    this.updateGate();
  }

  /** Called by the gate for each accepted connection (sync: paused, nothing read). */
  readonly onConnection = (socket: Socket): void => {
    if (this.sync) {
      // Pausing here closes the copy before the next poll accepts on it (libuv accepts one
      // connection per listener and poll): the rest of a burst goes elsewhere.
      if (this.isSlow()) this.gate.pause();
      this.unstarted.push(socket);
      this.updateSync();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', this.socketClosed);
    if (this.sockets.size >= this.workerConnections) this.gate.pause();
    if (this.proxyProtocol) readProxyHeader(socket, this.proxyProtocol, this.serve);
    else this.http.emit('connection', socket);
  };

  /**
   * A connection the arbiter passed, another (sync) worker's, paused and unread. sync: it goes before
   * the worker's own, which are newer, and the worker asks for the next once free; it may come after
   * the wait for the answer has ended. async: served as one of its own; a worker that is stopping
   * gives it back (keeping it only when there is no arbiter to take it).
   */
  adopt(socket: Socket): void {
    if (!this.sync) {
      if (this.draining && this.events.handBack([socket], 'stopping')) return;
      this.startConnection(socket);
      if (this.sockets.size >= this.workerConnections) this.gate.pause();
      return;
    }
    this.stopWaitingForArbiter();
    this.owesFree = true;
    this.unstarted.unshift(socket);
    this.updateSync();
  }

  /** sync: the arbiter holds connections handed back: ask for one once free (at once if it is). */
  holding(): void {
    if (!this.sync) return;
    this.owesFree = true;
    this.updateSync();
  }

  /** sync: the arbiter's answer to `free` when it holds nothing for this worker. */
  noConnection(): void {
    if (!this.askedArbiter) return;
    this.stopWaitingForArbiter();
    if (this.draining && this.sockets.size === 0 && this.unstarted.length === 0) this.onDrained?.();
    else this.updateSync();
  }

  /** sync: give a connection to the HTTP server, which reads it from now on. */
  private startSync(socket: Socket): void {
    this.starting = socket;
    this.startedAt = performance.now();
    this.startConnection(socket);
  }

  /** Give a paused, unread connection to the HTTP server: its PROXY header first, if one is due. */
  private startConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', this.socketClosed);
    if (this.proxyProtocol) {
      readProxyHeader(socket, this.proxyProtocol, this.serve);
      socket.resume();
    } else {
      this.serve(socket);
    }
  }

  /** Hand a connection whose PROXY header has been read to Node's HTTP or TLS server: it comes
   *  paused, what followed the header in its buffer (readProxyHeader). node:http reads that through
   *  the socket once resumed; a TLS server has taken it already and reads from the handle. */
  private readonly serve = (socket: Socket): void => {
    this.http.emit('connection', socket);
    if (!this.secure) socket.resume();
  };

  /** sync: look at the gate again in `ms`. A timer can fire a little early by the clock the grace is
   *  measured with (it counts from the event loop's cached time), so the check re-arms it until the
   *  grace is really over; a worker left paused with only idle connections would never accept again. */
  private armGrace(ms: number): void {
    this.graceTimer ??= setTimeout(() => {
      this.graceTimer = undefined;
      this.updateGate();
    }, ms);
  }

  /** Every connection's 'close' listener, the same function for all (no closure per connection);
   *  an emitter calls it with the socket as `this`. */
  private readonly socketClosed = ((server: WorkerServer) =>
    function (this: Socket): void {
      server.onConnectionClose(this);
    })(this);

  private onConnectionClose(socket: Socket): void {
    this.sockets.delete(socket);
    if (this.sync) {
      if (socket === this.starting) this.starting = undefined;
      this.updateSync();
    } else if (this.draining) {
      if (this.sockets.size === 0) this.onDrained?.();
    } else {
      this.updateGate();
    }
  }

  /** sync: requests are slow on average, or not timed yet: take one connection at a time. */
  private isSlow(): boolean {
    return this.serviceMs === undefined || this.serviceMs >= SLOW_REQUEST_MS || performance.now() < this.carefulUntil;
  }

  private updateGate(): void {
    if (this.sync) return this.updateSync();
    if (!this.draining && this.sockets.size < this.workerConnections && this.shedTimer === undefined) this.gate.resume();
    else this.gate.pause();
  }

  /**
   * sync: what the worker does next, from its state. Busy past the turn its request arrived in, it
   * stops accepting and hands back what it has not started: that would wait for the request. Free,
   * it starts the next connection; with none left, it tells the arbiter it is free if it owes that
   * (and takes the arbiter's connection first), or else accepts. While a started connection's first
   * request is awaited, the next waits (for at most the grace).
   */
  private updateSync(): void {
    if (this.busy) {
      this.gate.pause();
      this.handBack(this.draining ? 'stopping' : 'busy');
      return;
    }
    if (this.askedArbiter) return;
    const graceLeft = this.starting ? IDLE_CONNECTION_GRACE_MS - (performance.now() - this.startedAt) : 0;
    if (graceLeft > 0) {
      this.armGrace(Math.ceil(graceLeft));
      // Fast on average, the worker accepts meanwhile: what it accepts waits unread, and goes back
      // to the arbiter if the request turns out to outlive its turn.
      if (this.isSlow()) this.gate.pause();
      else this.gate.resume();
      return;
    }
    const next = this.unstarted.shift();
    if (next) {
      this.startSync(next);
      this.updateSync();
    } else if (this.owesFree || (this.draining && this.sockets.size === 0)) {
      // Draining with nothing left: the arbiter may hold connections only stopping workers will
      // serve (the server is shutting down).
      this.askArbiter();
    } else if (!this.draining) {
      this.gate.resume();
    }
  }

  /** sync: send what has not started to the arbiter (kept, to serve here, if there is none). */
  private handBack(why: 'busy' | 'stopping'): void {
    if (this.unstarted.length === 0) return;
    if (!this.events.handBack(this.unstarted, why)) return;
    this.unstarted.length = 0;
    this.owesFree = true;
  }

  /** sync: tell the arbiter the worker is free, and accept nothing until it answers, or for
   *  ARBITER_ANSWER_MS: a stopped or frozen arbiter must not stop the worker serving. A stopping
   *  worker accepts nothing anyway, and waits for the answer as long as it takes. */
  private askArbiter(): void {
    this.gate.pause();
    this.owesFree = false;
    if (this.events.free(this.draining)) {
      this.askedArbiter = true;
      if (this.draining) return;
      this.answerTimer = setTimeout(() => {
        this.answerTimer = undefined;
        // Stopping since it asked: it waits for the answer after all (noConnection ends the drain).
        if (this.draining) return;
        this.askedArbiter = false;
        this.updateSync();
      }, ARBITER_ANSWER_MS);
    } else if (this.draining) {
      if (this.sockets.size === 0) this.onDrained?.();
    } else {
      this.gate.resume();
    }
  }

  /** sync: the arbiter has answered `free`, or the wait for its answer is over. */
  private stopWaitingForArbiter(): void {
    this.askedArbiter = false;
    clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
  }

  private readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    (req.socket as SocketState)[SERVED] = true;
    if (++this.served === this.maxRequests) this.events.onLimit();
    if (this.hooks) this.dispatchHooked(this.hooks, req, res);
    else this.callApp(req, res);
  };

  private dispatchHooked({ pre, post }: RequestHooks, req: IncomingMessage, res: ServerResponse): void {
    if (post) {
      const started = performance.now();
      res.once('close', () => post(req, res, { duration: performance.now() - started, status: res.statusCode, aborted: !res.writableFinished }));
    }
    let before: Promise<void> | undefined;
    try {
      before = pre?.(req);
    } catch (err) {
      this.fail(err, req, res);
      return;
    }
    if (before) before.then(() => this.callApp(req, res), (err: unknown) => this.fail(err, req, res));
    else this.callApp(req, res);
  }

  private callApp(req: IncomingMessage, res: ServerResponse): void {
    try {
      const result = this.handler.listener(req, res) as PromiseLike<unknown> | undefined;
      if (result != null && typeof result.then === 'function') {
        result.then(undefined, (err: unknown) => this.fail(err, req, res));
      }
    } catch (err) {
      this.fail(err, req, res);
    }
  }

  private readonly dispatchSync = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.busy) this.waiting.push([req, res]);
    else this.runSync(req, res);
  };

  private runSync(req: IncomingMessage, res: ServerResponse): void {
    this.busy = true;
    // Its first request has come (or another's): the next connection waits for this one's end.
    this.starting = undefined;
    const started = performance.now();
    this.current = req;
    this.currentStarted = started;
    this.events.onSyncRequest();
    this.dispatch(req, res);
    if (res.writableEnded) {
      this.syncDone(started);
      return;
    }
    // Still busy once handed over: the guard's afterHandOver pauses the gate, or syncDone's loop.
    res.once('close', () => this.syncDone(started));
  }

  private syncDone(started: number): void {
    const now = performance.now();
    if (now - started >= HOLDING_REQUEST_MS) {
      if (now - this.slowSeenAt < SLOW_REQUEST_MEMORY_MS) this.carefulUntil = now + SLOW_REQUEST_MEMORY_MS;
      this.slowSeenAt = now;
    }
    const took = Math.min(now - started, SERVICE_TIME_CAP_MS);
    this.serviceMs = this.serviceMs === undefined ? took : this.serviceMs + SERVICE_TIME_WEIGHT * (took - this.serviceMs);
    this.busy = false;
    this.current = undefined;
    this.events.onSyncRequest();
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      const [req, res] = next;
      // A request pipelined behind one whose response closed the connection (every sync response
      // does) can get no answer: the app does not run it, and its response closes with the socket.
      if (res.destroyed || req.socket.destroyed || !req.socket.writable) continue;
      this.runSync(req, res);
      if (this.busy) {
        // Still busy once the events that came with this one are handled: stop taking connections.
        setImmediate(() => {
          if (this.busy) this.updateSync();
        });
        return;
      }
    }
    this.updateSync();
  }

  /** Open connections, for the heartbeat (and the arbiter's balancing). */
  get connections(): number {
    return this.sockets.size;
  }

  /**
   * async: keep `keep` connections and close the rest, each after its next response (`Connection:
   * close`): the arbiter's balancing found this worker with more than its share while others have
   * less. Its clients reconnect, and with this worker's gate paused until they have, the kernel
   * gives the new connections to the others. No request is cut: a connection closes only where a
   * response ends it. The connections that answer first go; idle ones stay (SHED_MAX_MS).
   */
  shed(keep: number): void {
    const excess = this.sockets.size - keep;
    if (this.sync || this.closeEach || this.draining || this.shedTimer || excess <= 0) return;
    this.toShed = excess;
    this.shedTimer = setTimeout(this.endShed, SHED_MAX_MS);
    this.updateGate();
    this.log.debug({ connections: this.sockets.size, keep }, `Shedding ${excess} keep-alive connections to other workers`);
  }

  /** mustClose, while shedding: this response's connection is one to shed (counted once). */
  private shedding(socket: Socket): boolean {
    const state = socket as SocketState;
    if (state[SHED]) return true;
    state[SHED] = true;
    if (--this.toShed === 0) {
      clearTimeout(this.shedTimer);
      this.shedTimer = setTimeout(this.endShed, SHED_HOLD_MS);
    }
    return true;
  }

  private readonly endShed = (): void => {
    this.toShed = 0;
    this.shedTimer = undefined;
    if (!this.draining) this.updateGate();
  };

  /** Requests in flight, for the heartbeat: counted when asked, so that counting costs nothing per
   *  request. A connection with a response being written has a request in flight. */
  inFlight(): number {
    if (this.sync) return (this.busy ? 1 : 0) + this.waiting.length;
    let count = this.secure?.http2InFlight() ?? 0;
    for (const socket of this.httpSockets()) if ((socket as SocketState)._httpMessage) count++;
    return count;
  }

  /** The request in flight, as a timeout's diagnosis reports it (sync; async has many). */
  describeInFlight(): string[] {
    const req = this.current;
    if (!req) return this.sync ? [] : [`${this.sockets.size} open connections`];
    return [`${req.method} ${req.url} (running for ${Math.round(performance.now() - this.currentStarted)}ms)`];
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
   * Graceful stop: accept nothing more, answer every request still to come with `Connection:
   * close` (the response class sees `draining`), and resolve once every connection has closed.
   *
   * - Handing over (a reload, recycling, fewer workers: other workers serve on), idle keep-alive
   *   connections are not closed under a client that may be sending on one at that moment — the
   *   request would be lost. Each closes after its next response, or when it has been idle for the
   *   keep-alive timeout its responses announced, as it would have anyway.
   * - Shutting down (`closeIdle`: the server is going away), idle keep-alive connections are closed
   *   at once, and as they become idle. A connection that has not sent its first request yet is
   *   not idle: its request is in flight. A handover upgrades to this when asked.
   *
   * `takeQueued`: the connections queued on the worker's own sockets are accepted, and served as
   * part of the drain, before the sockets close (AcceptGate.close); asked once the drain has begun,
   * too (takeLate).
   */
  async drain(closeIdle: boolean, takeQueued = false): Promise<void> {
    if (closeIdle && !this.sweep) {
      this.closeIdleKeepAlive();
      this.sweep = setInterval(() => this.closeIdleKeepAlive(), DRAIN_SWEEP_MS);
    }
    if (this.draining) {
      if (takeQueued) this.takeLate();
      return this.drained;
    }
    this.draining = true;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    clearTimeout(this.shedTimer);
    this.drained = this.gate.close(takeQueued).then(() => {
      this.log.debug({ connections: this.sockets.size }, 'Stopped accepting; finishing the open connections');
      // After the last accept: a session begun on a connection taken from the queue closes too.
      this.secure?.closeSessions();
      const closed = new Promise<void>((resolve) => (this.onDrained = () => this.lateTakes === 0 && resolve()));
      // sync: what has not started goes back to the arbiter (for a free worker), and once the last
      // connection is done the arbiter is asked whether it holds any (updateSync).
      if (this.sync) {
        this.handBack('stopping');
        this.updateSync();
      } else if (this.sockets.size === 0) {
        this.onDrained!();
      }
      return closed;
    });
    await this.drained;
    clearInterval(this.sweep);
  }

  /**
   * The last copies of the worker's sockets came after its drain began: it was stopping on its own
   * (a signal, --max-worker-memory) when the arbiter handed over. What is queued on them is
   * accepted and served in this drain, as it would have been in a hand-over's, and the drain ends
   * once those are done too. A drain already over comes too late: the worker is exiting, and what
   * it takes is cut with it (docs/DESIGN.md).
   */
  private takeLate(): void {
    this.lateTakes++;
    void this.gate.close(true).then(() => {
      this.lateTakes--;
      if (!this.onDrained) return;
      // As when the drain's own close ends.
      if (this.sync) {
        this.handBack('stopping');
        this.updateSync();
      } else if (this.sockets.size === 0) {
        this.onDrained();
      }
    });
  }

  /** The sockets node:http serves HTTP/1.1 on: those accepted, or with TLS the TLS sockets around them. */
  private httpSockets(): Iterable<Socket> {
    return this.secure?.http1Sockets ?? this.sockets;
  }

  private closeIdleKeepAlive(): void {
    for (const socket of this.httpSockets()) {
      // `_httpMessage` is the response being written on the socket, if any (node:http's own field).
      if ((socket as SocketState)[SERVED] && !(socket as SocketState)._httpMessage) socket.destroy();
    }
  }
}

/** Marks a socket that has had a request: only then is it an idle keep-alive connection. */
const SERVED = Symbol('served');
/** Marks a socket being shed: its response says `Connection: close`. */
const SHED = Symbol('shed');
type SocketState = Socket & { [SERVED]?: true; [SHED]?: true; _httpMessage?: unknown };

type HeaderList = Parameters<ServerResponse['writeHead']>[1];

/** node:http's own parts of a response that the worker's response class reads and sets. */
type NodeResponse = ServerResponse & {
  /** Writes the head, once per response, from every path (writeHead, a first write, end). */
  _storeHeader(firstLine: string, headers: HeaderList | null): void;
  /** The app removed the Connection header: Node then writes none. */
  _removedConnection: boolean;
};

/**
 * The worker's ServerResponse: while `mustClose()` (sync, `--keep-alive 0`, draining) every
 * response ends its connection, whatever the app does, and while shedding, the responses of the
 * connections shed. Where node:http settles it, in
 * `_storeHeader`, Node's own flag `shouldKeepAlive` is set false and a `Connection` header the app
 * set (a proxied upstream's `keep-alive`) or removed is dropped, so that Node writes `Connection:
 * close` and closes the connection after the response. `_storeHeader` is each response's own
 * (own.ts): an app that replaces the response's prototype (Express) keeps it.
 */
function responseClass(mustClose: (socket: Socket | null) => boolean): typeof ServerResponse {
  const isConnection = (name: unknown) => typeof name === 'string' && name.length === 10 && name.toLowerCase() === 'connection';
  // writeHead's headers as given, when nothing was set before it: copied without Connection.
  const withoutConnection = (headers: HeaderList | null): HeaderList | null => {
    if (Array.isArray(headers)) {
      // [name, value] pairs, or flat: name, value, name, value…
      const list = headers as unknown[];
      const pairs = Array.isArray(list[0]);
      const nameAt = (i: number) => (pairs ? (list[i] as unknown[])[0] : list[i - (i % 2)]);
      return list.filter((_, i) => !isConnection(nameAt(i))) as HeaderList;
    }
    if (headers && typeof headers === 'object') {
      for (const name in headers) if (isConnection(name)) return Object.fromEntries(Object.entries(headers).filter(([key]) => !isConnection(key)));
    }
    return headers;
  };
  function storeHeader(this: NodeResponse, firstLine: string, headers: HeaderList | null): void {
    if (mustClose(this.socket)) {
      this.shouldKeepAlive = false;
      // Headers set before or by writeHead are the response's own, which node:http passes here.
      if (this.hasHeader('connection')) this.removeHeader('connection');
      else headers = withoutConnection(headers);
      this._removedConnection = false;
    }
    inherited(this, '_storeHeader').call(this, firstLine, headers);
  }

  return class UnicornResponse extends (http.ServerResponse as unknown as new (req: IncomingMessage, options?: object) => NodeResponse) {
    constructor(req: IncomingMessage, options?: object) {
      super(req, options);
      this._storeHeader = storeHeader;
    }
  } as unknown as typeof ServerResponse;
}

