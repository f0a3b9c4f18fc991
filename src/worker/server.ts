import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { WorkerClass } from '../config/settings';
import type { RequestInfo } from '../hooks/types';
import type { Logger } from '../shared/log';
import type { AcceptGate } from './accept';
import type { AccessLog, ResponseClass } from './access-log';
import { WORKER_CLASS_IMPLEMENTATIONS } from './classes/registry';
import type { WorkerClassBehaviour, WorkerClassOptions, WorkerCore, WorkerServerEvents } from './classes/worker-class';
import { forwardedResponseClass } from './forwarded';
import type { Handler } from './handler';
import { RequestGuard } from './limits';
import { mountOf } from './mount-tag';
import { OpenConnections } from './open-connections';
import type { RequestLimits } from './parser-options';
import { answerPlainText } from './plain-text';
import type { ProxyProtocolOptions, readProxyHeader } from './proxy-protocol';
import { responseClass } from './response';
import type { SecureServer, TlsServing } from './tls';

export interface WorkerServerOptions extends RequestLimits, WorkerClassOptions {
  workerClass: WorkerClass;
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

/** The per-request hooks a worker's plugins have (none: requests take the plain path). */
export interface RequestHooks {
  /** preRequest: a failure (thrown or rejected) answers 500, and the app never sees the request. */
  pre?: (req: IncomingMessage) => Promise<void> | undefined;
  /** postRequest, once the response is done or its connection lost. */
  post?: (req: IncomingMessage, res: ServerResponse, info: RequestInfo) => void;
}

/** How often a draining worker closes connections that have gone idle after their last response. */
const DRAIN_SWEEP_MS = 50;

/**
 * A worker's HTTP side: Node's own http.Server (never listening itself; the accept gate hands it
 * connections), the request path to the app, and the graceful drain. How connections are accepted
 * and requests dispatched is the worker class's (classes/worker-class.ts), which this calls for
 * every decision that differs between classes.
 */
export class WorkerServer {
  /** node:http's server, or with TLS an https or http2 one (tls.ts). */
  readonly http: Server;
  /** With TLS: the connections as node:http and node:http2 serve them. */
  private readonly secure: SecureServer | undefined;
  private readonly workerClass: WorkerClassBehaviour;
  private readonly sockets = new OpenConnections();
  private draining = false;
  private drained: Promise<void> | undefined;
  /** Takes of the queue begun after the drain (takeLate) and not finished: the drain waits for them. */
  private lateTakes = 0;
  private sweep: NodeJS.Timeout | undefined;
  private onDrained: (() => void) | undefined;
  /** Requests dispatched to the app so far. */
  served = 0;
  private readonly maxRequests: number;
  private readonly proxyProtocol: ProxyProtocolOptions | undefined;
  /** Loaded only with --proxy-protocol. */
  private readonly readProxyHeader: typeof readProxyHeader | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly gate: AcceptGate,
    options: WorkerServerOptions,
    private readonly log: Logger,
    private readonly events: WorkerServerEvents,
    private readonly hooks?: RequestHooks,
  ) {
    this.maxRequests = options.maxRequests;
    this.proxyProtocol = options.proxyProtocol;
    if (this.proxyProtocol) this.readProxyHeader = (require('./proxy-protocol') as typeof import('./proxy-protocol')).readProxyHeader;
    const Class = WORKER_CLASS_IMPLEMENTATIONS[options.workerClass];
    const workerClass = new Class(this.core(), options);
    this.workerClass = workerClass;
    // Without a socket (HTTP/2's responses), only what applies to every connection.
    const mustClose = (socket?: Socket | null) => this.draining || workerClass.mustClose(socket);
    const { accessLog, forwarded } = options;
    let response = responseClass(mustClose);
    // Forwarded headers are applied as each response is made: before the access log notes the peer.
    if (forwarded) response = forwardedResponseClass(response, forwarded);
    // The access log sees each response from its making to its close, whatever happens to it
    // here: a sync request that waits its turn, and one whose client leaves meanwhile, are logged.
    // The guard checks each request against the limits before it is dispatched, and answers
    // every refusal, Node's parser's included (docs/security.md). A trusted proxy's forwarded
    // headers reach an upgrade request ahead of the app's own listeners.
    const upgrade: Handler['upgrade'] =
      forwarded && handler.upgrade.length > 0 ? [forwarded as Handler['upgrade'][number], ...handler.upgrade] : handler.upgrade;
    const guard = new RequestGuard(options, workerClass.dispatch, upgrade, log, accessLog);
    guard.afterHandOver = workerClass.afterHandOver;
    if (options.tls) {
      // Loaded only with TLS: node:https and node:http2 add to every worker's boot otherwise.
      const { SecureServer } = require('./tls') as typeof import('./tls');
      const wrapResponse = <T extends ResponseClass>(base: T): T => (accessLog ? accessLog.responseClass(base) : base);
      const secureOptions = {
        keepAlive: options.keepAlive,
        oneStreamAtATime: Class.oneStreamAtATime,
        mustClose,
        http1Response: response,
        wrapResponse,
        http1Options: guard.serverOptions,
        headerTimeout: options.headerTimeout,
        forwarded,
        http2Request: guard.http2Request,
      };
      this.secure = new SecureServer(options.tls, secureOptions, log);
      this.http = this.secure.server;
    } else {
      const server = http.createServer({
        ...guard.serverOptions,
        ServerResponse: accessLog ? accessLog.responseClass(response) : response,
      });
      server.keepAliveTimeout = options.keepAlive;
      this.http = server;
    }
    guard.install(this.http as http.Server);
    // Read by node:http at each upgrade request; node:http2's HTTP/1.1 side takes it only this way, not as an option.
    if (handler.takesUpgrade)
      (this.http as { shouldUpgradeCallback?: Handler['takesUpgrade'] }).shouldUpgradeCallback = handler.takesUpgrade;
    // The server never listens, but its connection tracking (idle-connection closing, header and
    // request timeouts) starts on 'listening'.
    this.http.emit('listening');
  }

  /** What the worker class works with: this server's state, and its ways of serving. */
  private core(): WorkerCore {
    const server = this;
    return {
      gate: this.gate,
      events: this.events,
      log: this.log,
      sockets: this.sockets,
      get draining() {
        return server.draining;
      },
      open: (socket, paused) => this.open(socket, paused),
      run: this.dispatch,
      responding: () => this.responding(),
      drained: () => this.onDrained?.(),
    };
  }

  /** Start accepting. */
  start(): void {
    this.workerClass.start();
  }

  /** Called by the gate for each accepted connection (paused, nothing read, if the class asks). */
  readonly onConnection = (socket: Socket): void => this.workerClass.accepted(socket);

  /** A connection the arbiter passed, another (sync) worker's, paused and unread. */
  adopt(socket: Socket): void {
    this.workerClass.adopt(socket);
  }

  /** The arbiter holds connections handed back (sync). */
  holding(): void {
    this.workerClass.holding();
  }

  /** The arbiter's answer to `free` when it holds nothing for this worker (sync). */
  noConnection(): void {
    this.workerClass.noConnection();
  }

  /** The arbiter's balancing: keep `keep` connections, move the rest to other workers (async). */
  shed(keep: number): void {
    this.workerClass.shed(keep);
  }

  /** Give a connection to the HTTP server: its PROXY header first, if one is due. One that came
   *  paused and unread is resumed. */
  private open(socket: Socket, paused: boolean): void {
    this.sockets.add(socket);
    socket.on('close', this.socketClosed);
    if (this.proxyProtocol) {
      this.readProxyHeader!(socket, this.proxyProtocol, this.serve);
      if (paused) socket.resume();
    } else if (paused) {
      this.serve(socket);
    } else {
      this.http.emit('connection', socket);
    }
  }

  /** Hand a connection whose PROXY header has been read to Node's HTTP or TLS server: it comes
   *  paused, what followed the header in its buffer (readProxyHeader). node:http reads that through
   *  the socket once resumed; a TLS server has taken it already and reads from the handle. */
  private readonly serve = (socket: Socket): void => {
    this.http.emit('connection', socket);
    if (!this.secure) socket.resume();
  };

  /** Every connection's 'close' listener, the same function for all (no closure per connection);
   *  an emitter calls it with the socket as `this`. */
  private readonly socketClosed = ((server: WorkerServer) =>
    function (this: Socket): void {
      server.sockets.delete(this);
      server.workerClass.connectionClosed(this);
    })(this);

  private readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    (req.socket as SocketState)[SERVED] = true;
    if (++this.served === this.maxRequests) this.events.onLimit();
    if (this.hooks) this.dispatchHooked(this.hooks, req, res);
    else this.callApp(req, res);
  };

  private dispatchHooked({ pre, post }: RequestHooks, req: IncomingMessage, res: ServerResponse): void {
    if (post) {
      const started = performance.now();
      res.once('close', () =>
        post(req, res, { duration: performance.now() - started, status: res.statusCode, aborted: !res.writableFinished }),
      );
    }
    let before: Promise<void> | undefined;
    try {
      before = pre?.(req);
    } catch (err) {
      this.fail(err, req, res);
      return;
    }
    if (before)
      before.then(
        () => this.callApp(req, res),
        (err: unknown) => this.fail(err, req, res),
      );
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

  /** Open connections, for the heartbeat (and the arbiter's balancing). */
  get connections(): number {
    return this.sockets.size;
  }

  /** Requests in flight, for the heartbeat. */
  inFlight(): number {
    return this.workerClass.inFlight();
  }

  /** The work in flight, as a timeout's diagnosis reports it. */
  describeInFlight(): string[] {
    return this.workerClass.describeInFlight();
  }

  /** The heartbeat waits (sync: a request is in flight). */
  holdsHeartbeat(): boolean {
    return this.workerClass.holdsHeartbeat();
  }

  /** Connections with a response being written (each has a request in flight), and HTTP/2 streams
   *  in flight: counted when asked, so that counting costs nothing per request. */
  private responding(): number {
    let count = this.secure?.http2InFlight() ?? 0;
    for (const socket of this.httpSockets()) if ((socket as SocketState)._httpMessage) count++;
    return count;
  }

  /** The app threw or rejected: answer 500 if nothing was sent yet, else cut the connection. */
  private fail(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    // A mounted app's request as it came, not as the app saw it (worker/site.ts), and the mount.
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url;
    const mount = mountOf(req);
    this.log.error({ err, method: req.method, url, mount }, `Error handling request ${req.method} ${url}`);
    if (res.writableEnded) return;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    answerPlainText(res, 500, 'Internal Server Error', { connection: 'close' });
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
   * too (takeLate). What is left once accepting has ended is the worker class's to finish.
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
    this.workerClass.drainBegins();
    this.drained = this.gate.close(takeQueued).then(() => {
      this.log.debug({ connections: this.sockets.size }, 'Stopped accepting; finishing the open connections');
      // After the last accept: a session begun on a connection taken from the queue closes too.
      this.secure?.closeSessions();
      const closed = new Promise<void>((resolve) => (this.onDrained = () => this.lateTakes === 0 && resolve()));
      this.workerClass.acceptingEnded();
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
      // As when the drain's own close ends.
      if (this.onDrained) this.workerClass.acceptingEnded();
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
type SocketState = Socket & { [SERVED]?: true; _httpMessage?: unknown };
