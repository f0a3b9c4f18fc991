/**
 * A worker's HTTPS side, with --certfile: the TLS server node:http (or node:http2) serves on, and
 * what WorkerServer needs to know of its connections. Like the plain http.Server it never listens:
 * it is handed each accepted TCP connection with `emit('connection')`, and wraps it in TLS itself.
 *
 * - Without --http2, an https.Server: HTTP/1.1 over TLS, served by node:http exactly as plain
 *   HTTP is, with the worker's own response class.
 * - With --http2, `http2.createSecureServer({ allowHTTP1: true })`: a client that offers `h2` in the
 *   TLS handshake (ALPN) gets an HTTP/2 session, any other gets HTTP/1.1 from node:http as above.
 *   The app's `(req, res)` are then node:http2's compatibility objects (Http2ServerRequest and
 *   Http2ServerResponse), through the subclasses below.
 */
import type { ServerResponse } from 'node:http';
import http2, {
  Http2ServerRequest,
  Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import https from 'node:https';
import type { Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CertReqs } from '../config/settings';
import type { TlsMaterial } from '../config/tls';
import type { Logger } from '../shared/log';
import type { ResponseClass } from './access-log';
import { forwardedResponseClass } from './forwarded';

export interface TlsServing {
  material: TlsMaterial;
  certReqs: CertReqs;
  http2: boolean;
}

export interface SecureServerOptions {
  /** Milliseconds an idle HTTP/1.1 connection is kept (node:http's keepAliveTimeout), and an
   *  HTTP/2 connection may go without a frame either way before it is closed. */
  keepAlive: number;
  /** sync: an HTTP/2 client may open one stream at a time, as an HTTP/1.1 client sends one request. */
  oneStreamAtATime: boolean;
  /** While true (sync, --keep-alive 0, draining), every connection closes after what it has asked
   *  for: Connection: close on HTTP/1.1 (the response class's doing), GOAWAY on HTTP/2. */
  mustClose: () => boolean;
  /** The worker's HTTP/1.1 response class (response.ts). */
  http1Response: typeof ServerResponse;
  /** Wraps each response class in another (the access log's), or leaves it. */
  wrapResponse: <T extends ResponseClass>(base: T) => T;
  /** Applies a trusted proxy's forwarded headers to each HTTP/2 request (forwarded.ts); the
   *  HTTP/1.1 response class applies them itself. */
  forwarded?: (req: import('node:http').IncomingMessage) => void;
  /** node:http's parser options for HTTP/1.1 (the request limits: limits.ts). */
  http1Options?: import('node:http').ServerOptions;
  /** Makes the HTTP/2 request class count bodies, with --limit-request-body (limits.ts). */
  http2Request?: (base: typeof Http2ServerRequest) => typeof Http2ServerRequest;
  /** --header-timeout (ms, 0 for none): also how long a connection has to complete its handshake. */
  headerTimeout: number;
}

/** How long a silent HTTP/2 connection is kept when --keep-alive is 0 (each connection then
 *  serves what it opened with): node:http's headersTimeout, what a silent HTTP/1.1 one gets. */
const SILENT_SESSION_MS = 60_000;

/** Connection-specific headers, which HTTP/2 forbids (RFC 9113 8.2.2): node:http2 drops them
 *  too, but with a warning on stderr that looks like a fault. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Statuses whose responses carry no body (node:http's `_hasBody` is false for them too). */
const NO_BODY_STATUS = new Set([204, 304]);

/** Marks an HTTP/2 session that has had a request: only then is GOAWAY at a drain safe for it. */
const SERVED = Symbol('served');
type Session = ServerHttp2Session & { [SERVED]?: true };

/**
 * The TLS server of one worker and the connections WorkerServer looks at: HTTP/1.1 ones (for
 * idle keep-alive closing and requests in flight) once their handshake is done, and HTTP/2
 * sessions (closed with GOAWAY at a drain).
 */
export class SecureServer {
  readonly server: Server;
  /** HTTP/1.1 connections past their handshake: node:http serves them on these TLS sockets, not
   *  on the TCP sockets the accept gate handed over. */
  readonly http1Sockets = new Set<TLSSocket>();
  private readonly sessions = new Set<Session>();
  /** HTTP/2 responses not closed yet: requests in flight. */
  private readonly streams = { open: 0 };

  constructor(
    { material, certReqs, http2: offerHttp2 }: TlsServing,
    private readonly options: SecureServerOptions,
    private readonly log: Logger,
  ) {
    const secure = {
      ...material,
      requestCert: certReqs !== 'none',
      rejectUnauthorized: certReqs === 'required',
      // node:http's header timeout starts once the handshake is done: without this, a connection
      // that never completes one (a silent one, a slowloris of ClientHello bytes) would be held for
      // Node's default, 120 s. With the header timeout off, Node's default stands.
      ...(options.headerTimeout > 0 ? { handshakeTimeout: options.headerTimeout } : {}),
    };
    const http1Response = options.wrapResponse(options.http1Response);
    if (offerHttp2) {
      let http2Response = http2ResponseClass(options.mustClose, this.streams);
      // Before the access log's class sees the peer, as over HTTP/1.1.
      if (options.forwarded) http2Response = forwardedResponseClass(http2Response, options.forwarded);
      http2Response = options.wrapResponse(http2Response);
      const settings = options.oneStreamAtATime ? { maxConcurrentStreams: 1 } : {};
      const { IncomingMessage: Http1IncomingMessage, ...http1 } = options.http1Options ?? {};
      const server = http2.createSecureServer({
        ...http1,
        ...secure,
        allowHTTP1: true,
        settings,
        ...(Http1IncomingMessage ? { Http1IncomingMessage } : {}),
        Http1ServerResponse: http1Response,
        Http2ServerRequest: options.http2Request ? options.http2Request(Http2Request) : Http2Request,
        Http2ServerResponse: http2Response,
      } as http2.SecureServerOptions);
      server.on('session', this.onSession);
      this.server = server;
    } else {
      this.server = https.createServer({ ...options.http1Options, ...secure, ServerResponse: http1Response });
    }
    (this.server as Server & { keepAliveTimeout: number }).keepAliveTimeout = options.keepAlive;
    // Ahead of node:http's own listener: a connection refused here never reaches it.
    this.server.prependListener('secureConnection', certReqs === 'optional' ? this.onSecureOptional : this.onSecure);
    // Ahead of that: the TLS socket's peer is the TCP socket's (a PROXY header's client).
    this.server.prependListener('secureConnection', takePeer);
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      takePeer(socket);
      this.log.debug({ err, remoteAddress: socket.remoteAddress }, `TLS handshake failed: ${err.message}`);
    });
  }

  /** Requests in flight on HTTP/2 connections. */
  http2InFlight(): number {
    return this.streams.open;
  }

  /**
   * A drain begins: every HTTP/2 session that has had a request is sent GOAWAY, gracefully — the
   * streams it has opened are served, and the client opens no more on it (a stream it sent at that
   * very moment is refused, and the client knows it was not processed: RFC 9113 6.8). A session
   * with no request yet gets GOAWAY with its first one (the response class sees the drain), as an
   * HTTP/1.1 connection with no request yet is left to send its first.
   */
  closeSessions(): void {
    for (const session of this.sessions) if (session[SERVED]) session.close();
  }

  private readonly onSecure = (socket: TLSSocket): void => {
    if (socket.alpnProtocol === 'h2') {
      // The accept gate's connections allow half-open ones, which node:http handles (and needs)
      // but node:http2 does not: a client that ends its side while a stream still waits on it (for
      // a body, say) would hold the session, and the connection, for good. Ours ends too, as on a
      // connection Node's own HTTP/2 server accepted; the session then closes its streams.
      socket.once('end', () => socket.end());
      return;
    }
    this.http1Sockets.add(socket);
    socket.once('close', () => this.http1Sockets.delete(socket));
  };

  /**
   * --cert-reqs optional, as Python's CERT_OPTIONAL (Gunicorn's meaning): a client may send no
   * certificate, but one it sends must be signed by --ca-certs. OpenSSL in Node has no such mode
   * (rejectUnauthorized: false lets a bad certificate through too), so it is checked here, once
   * the handshake is done and before a request is read.
   */
  private readonly onSecureOptional = (socket: TLSSocket): void => {
    if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
      this.log.debug(
        { remoteAddress: socket.remoteAddress, reason: socket.authorizationError },
        `Client certificate refused: ${String(socket.authorizationError)}`,
      );
      socket.destroy();
      return;
    }
    this.onSecure(socket);
  };

  private readonly onSession = (session: Session): void => {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // No frame either way for this long: GOAWAY. Streams still open are served first (a slow
    // handler sends nothing meanwhile), so unlike node:http2's server timeout nothing is cut.
    session.setTimeout(this.options.keepAlive > 0 ? this.options.keepAlive : SILENT_SESSION_MS, () => session.close());
  };
}

/** Node's cache of a socket's peer, which remoteAddress, remotePort and remoteFamily read. */
type Peername = { address?: string; port?: number; family?: string };
type WrappedTLSSocket = TLSSocket & { _parent?: { _peername?: Peername } | null; _peername?: Peername };

/**
 * Give a TLS socket the peer of the TCP socket it wraps. With --proxy-protocol that is the client
 * the PROXY header named (proxy-protocol.ts sets the TCP socket's cached peer); the TLS socket would
 * ask the kernel for its own, and the app, the trust of forwarded headers and the access log would
 * see the proxy. Without, the TCP socket's peer is the kernel's anyway.
 */
function takePeer(socket: WrappedTLSSocket): void {
  const peer = socket._parent?._peername;
  if (peer !== undefined) socket._peername = peer;
}

/**
 * Requests over HTTP/2 get a Host header from `:authority` when they have none (HTTP/2 clients
 * send `:authority` instead, RFC 9113 8.3.1), as anything turning HTTP/2 into HTTP/1.1's terms must
 * add: `req.headers.host`, frameworks that read it and the access log's `%({host}i)s` work alike
 * over both. A CONNECT's `url` is its authority, as over HTTP/1.1 (it has no `:path`).
 */
class Http2Request extends Http2ServerRequest {
  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    const authority = headers[':authority'];
    if (authority !== undefined && headers.host === undefined) {
      headers.host = authority;
      rawHeaders.push('host', authority);
    }
    if (headers[':method'] === 'CONNECT' && headers[':path'] === undefined) headers[':path'] = authority;
    super(stream, headers, options as never, rawHeaders);
  }
}

type HeaderList = Parameters<ServerResponse['writeHead']>[1];

/**
 * The worker's Http2ServerResponse, the HTTP/2 form of response.ts's response class:
 *
 * - while `mustClose()`, a request closes its session gracefully (GOAWAY once its streams are
 *   served): HTTP/2's Connection: close;
 * - connection-specific headers (a proxied upstream's `Connection: keep-alive`, the worker's own
 *   `Connection: close` on a 500) and a status message are dropped quietly, where node:http2 would
 *   drop them with a warning (once per worker and kind);
 * - `_hasBody` and `writableFinished` read as node:http's do, for the access log and postRequest:
 *   no body for HEAD, 204 and 304, and a stream the client reset is not finished.
 * - open responses are counted: the requests in flight the heartbeat reports.
 */
function http2ResponseClass(mustClose: () => boolean, streams: { open: number }): typeof Http2ServerResponse {
  const keep = (name: unknown) => typeof name !== 'string' || !CONNECTION_SPECIFIC.has(name.toLowerCase());
  const withoutConnection = (headers: HeaderList): HeaderList => {
    if (Array.isArray(headers)) {
      const flat: string[] = [];
      for (let i = 0; i < headers.length; i += 2) if (keep(headers[i])) flat.push(headers[i] as string, headers[i + 1] as string);
      return flat as unknown as HeaderList;
    }
    if (headers && typeof headers === 'object' && !Object.keys(headers).every(keep)) {
      return Object.fromEntries(Object.entries(headers).filter(([name]) => keep(name)));
    }
    return headers;
  };
  function onClose() {
    streams.open--;
  }

  return class UnicornHttp2Response extends Http2ServerResponse {
    constructor(stream: ServerHttp2Stream) {
      super(stream);
      streams.open++;
      this.once('close', onClose);
      const session = stream.session as Session | undefined;
      if (!session) return;
      session[SERVED] = true;
      if (mustClose()) session.close();
    }

    /** node:http's flag, which the access log reads: does what is written reach the client? */
    get _hasBody(): boolean {
      return (
        !(this.stream as (ServerHttp2Stream & { headRequest?: boolean }) | undefined)?.headRequest && !NO_BODY_STATUS.has(this.statusCode)
      );
    }

    // @ts-expect-error: an accessor where Node's typings declare a plain property.
    override get writableFinished(): boolean {
      // node:http2 counts a stream the client reset (RST_STREAM) as finished.
      const stream = this.stream as ServerHttp2Stream | undefined;
      return stream?.writableFinished === true && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR;
    }

    override setHeader(name: string, value: number | string | readonly string[]): void {
      if (keep(name)) super.setHeader(name, value);
    }

    // writeHead(status[, statusMessage][, headers]): HTTP/2 has no status message.
    override writeHead(statusCode: number, message?: unknown, headers?: unknown): this {
      const list = (typeof message === 'object' ? message : headers) as HeaderList;
      return super.writeHead(statusCode, withoutConnection(list) as never);
    }
  } as unknown as typeof Http2ServerResponse;
}
