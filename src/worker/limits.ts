/**
 * What a worker refuses before the app sees it, and the one place that answers every refusal.
 *
 * - Gunicorn's limits, with its names, defaults and ceilings: the request line
 *   (`--limit-request-line`, 414), the number of header fields (`--limit-request-fields`, 431) and
 *   the size of each (`--limit-request-field-size`, 431); and a body limit (`--limit-request-body`,
 *   413), which Gunicorn leaves to the app.
 * - What Node's parser (llhttp, strict) rejects: smuggling shapes, bad characters, bare LF, folded
 *   lines… (400), a head past the header budget (431), a head slower than `--header-timeout` (408).
 * - What llhttp lets through and HTTP/1.1 refuses: more than one Host or Content-Type, a Host or an
 *   absolute-form target's authority that names no host, `*` but for OPTIONS, Transfer-Encoding in
 *   HTTP/1.0, versions other than 1.0 and 1.1 (HTTP/0.9 400, 2.0 505), and CONNECT (501).
 * - With --http2, HTTP/2 requests (streams) are held to the same limits, measured on what stands
 *   for their request line and fields; a refusal answers the stream, and the connection's other
 *   streams go on.
 *
 * A refused request never reaches the app, its answer says `Connection: close`, and whatever came
 * after it on its connection is dropped, as is whatever comes after a request that ends its
 * connection. The app is handed each request once the rest of what arrived with its head has been
 * parsed (later in the same turn of the event loop), so a malformed body or next request in the
 * same packet closes the connection before the app is called.
 */
import http, { IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { MAX_REQUEST_FIELDS } from '../config/request-limits';
import type { Logger } from '../shared/log';
import type { AccessLog } from './access-log';
import { bodyCounting, type Pushing } from './body-limit';
import type { Handler } from './handler';
import {
  FIELD_LINE_EXTRA,
  HOST,
  http1HeadRefusal,
  isNamed,
  REQUEST_LINE_EXTRA,
  type Refusal,
  rawAnswer,
  rejectionStatus,
  versionRefusal,
} from './http-rules';
import { parserOptions, type RequestLimits } from './parser-options';
import { closeIfQueued } from './pipelining';
import { answerPlainText } from './plain-text';
import { markDropped, markRefused } from './refused';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Marks a connection on which a request was refused: what follows it is not handed to the app. */
const CLOSING = Symbol('closing');
/** On an HTTP/2 request whose body is counted: its response, for the 413 if the body passes the limit. */
const RESPONSE = Symbol('response');
/** node:http2's RST_STREAM codes (not imported: node:http2 is loaded only with TLS). NO_ERROR after a
 *  complete response asks the client to stop sending the request (RFC 9113, 8.1); CANCEL cuts it off. */
const NGHTTP2_NO_ERROR = 0;
const NGHTTP2_CANCEL = 8;
/** An HTTP/2 request: node:http2's compatibility request, which has its stream. */
type StreamRequest = IncomingMessage & {
  stream: { close(code: number): void; resume(): unknown; once(event: 'finish', listener: () => void): unknown; writableFinished: boolean };
  [RESPONSE]?: ServerResponse;
};
const isStream = (req: IncomingMessage): req is StreamRequest => 'stream' in req;
const COLON = 0x3a;
type GuardedSocket = Socket & { [CLOSING]?: true; _httpMessage?: (ServerResponse & { _headerSent: boolean }) | null };

/**
 * Stands between Node's http.Server and the app: checks each request's head against the limits,
 * answers what it refuses, and answers for Node's parser what it rejects (with the access log's
 * line, when there is one).
 */
export class RequestGuard {
  /** The http.Server options the limits need (with a request class counting bodies, if limited). */
  readonly serverOptions: http.ServerOptions;
  /** With --limit-request-body: makes node:http2's request class (--http2) count bodies too. */
  readonly http2Request: (<T extends Pushing>(base: T) => T) | undefined;
  private readonly maxFields: number;
  /** Requests waiting for the parser to finish what came with them: request, response, request… */
  private pending: Array<IncomingMessage | ServerResponse> = [];
  private spare: Array<IncomingMessage | ServerResponse> = [];
  /** What upgrade listeners get as `this`, as they would from the server's own emit. */
  private server: http.Server | undefined;
  /** Called after each batch is handed over and what the app did with it in that turn (its ticks
   *  and microtasks) is done, before the event loop polls for I/O (new connections) again. */
  afterHandOver: (() => void) | undefined;

  constructor(
    private readonly limits: RequestLimits,
    private readonly dispatch: Listener,
    private readonly upgrade: Handler['upgrade'],
    private readonly log: Logger,
    private readonly accessLog?: AccessLog,
  ) {
    this.maxFields = limits.limitRequestFields || MAX_REQUEST_FIELDS;
    this.serverOptions = parserOptions(limits);
    const limit = limits.limitRequestBody;
    if (limit > 0) this.serverOptions.IncomingMessage = bodyCounting(IncomingMessage, limit, this.bodyOverLimit);
    this.http2Request = limit > 0 ? (base) => bodyCounting(base, limit, this.bodyOverLimit) : undefined;
  }

  /** Take the server's requests, expectations, upgrades and parser errors. */
  install(server: http.Server): void {
    this.server = server;
    // Node keeps this many fields and drops the rest: one more than the limit is enough to see
    // that a request is over it, and no more are kept in memory. (Node 24 may also refuse a head
    // with more than this many itself, as a header overflow: 431 too.)
    server.maxHeadersCount = this.maxFields + 1;
    server.on('request', this.onRequest);
    // With a listener, Node leaves `100 Continue` to us: a refused request gets its refusal
    // instead, and its client does not send the body.
    server.on('checkContinue', this.onCheckContinue);
    server.on('clientError', this.onClientError);
    if (this.upgrade.length > 0) server.on('upgrade', this.onUpgrade);
    // Without a listener, Node closes a CONNECT's connection unanswered.
    server.on('connect', this.onConnect);
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    closeIfQueued(req, res);
    if (this.droppedAfterRefusal(req, res)) return;
    const refusal = this.check(req, res);
    if (refusal) this.refuse(req, res, refusal);
    else this.defer(req, res);
  };

  private readonly onCheckContinue = (req: IncomingMessage, res: ServerResponse): void => {
    closeIfQueued(req, res);
    if (this.droppedAfterRefusal(req, res)) return;
    const refusal = this.check(req, res);
    if (refusal) return this.refuse(req, res, refusal);
    res.writeContinue();
    this.defer(req, res);
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const refusal = this.check(req);
    if (!refusal) {
      for (const listener of this.upgrade) listener.call(this.server, req, socket, head);
      return;
    }
    this.refuseTaken(req, socket, refusal, 'an upgrade');
  };

  /**
   * CONNECT asks for a tunnel, which only a proxy makes: 501, as for a method a server implements
   * for no resource (RFC 9110, 15.6.2). Not 405, which would claim the target as a resource of this
   * server and must list the methods it allows, which only the app knows. Over HTTP/2 (--http2)
   * node:http2 gives the stream's response instead of the socket.
   */
  private readonly onConnect = (req: IncomingMessage, socket: Socket | ServerResponse): void => {
    const refusal = { status: 501, why: 'CONNECT is not served here: it asks for a tunnel, and this is not a proxy' };
    if (isStream(req)) this.refuse(req, socket as ServerResponse, refusal);
    else this.refuseTaken(req, socket as Socket, refusal, 'a CONNECT');
  };

  /**
   * Refuse an upgrade or a CONNECT. It has taken the socket from Node's HTTP machinery, error
   * listener included (a client that resets would throw in the worker): the answer is written raw,
   * after the responses to requests pipelined before it, which Node goes on writing on the socket.
   * Once one of those has closed the connection (every sync response does), it is dropped unanswered.
   */
  private refuseTaken(req: IncomingMessage, socket: GuardedSocket, { status, why }: Refusal, what: string): void {
    socket.on('error', ignore);
    const answer = (): void => {
      if (socket.destroyed) return;
      const inFlight = socket._httpMessage;
      if (inFlight) {
        inFlight.once('close', answer);
        return;
      }
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      this.log.debug({ status, remoteAddress: socket.remoteAddress }, `Refused ${what}: ${why}`);
      socket.end(rawAnswer(status), () => socket.destroy());
      this.accessLog?.rejected(socket.remoteAddress, status, req);
    };
    answer();
  }

  /** A request pipelined behind a refused one is dropped, unanswered and unlogged: its connection
   *  closes after the refusal. */
  private droppedAfterRefusal(req: IncomingMessage, res: ServerResponse): boolean {
    if (!(req.socket as GuardedSocket)[CLOSING]) return false;
    markDropped(res);
    return true;
  }

  /**
   * The head against the limits, and what llhttp lets through that HTTP/1.1 refuses. Undefined
   * (nothing allocated) for a request that passes; one walk over the raw header list.
   *
   * An HTTP/2 request (--http2) is held to the same limits: its request line is its method and
   * `:path`, counted as HTTP/1.1 would write them; its fields are its headers but the pseudo-headers
   * (`:authority` is checked as the Host that tls.ts makes of it). node:http2 has checked its
   * framing (a Content-Length is digits, no Transfer-Encoding comes); the rules of HTTP/1.1 heads
   * (http1HeadRefusal) are not applied to it. With a body limit, the response is kept on the
   * request for a body that passes the limit later.
   */
  private check(req: IncomingMessage, res?: ServerResponse): Refusal | undefined {
    // An HTTP/2 stream (--http2); any other version on an HTTP/1 connection is refused.
    const stream = req.httpVersionMajor !== 1 && isStream(req);
    if (req.httpVersionMajor !== 1 && !stream) return versionRefusal(req);
    const { limitRequestLine, limitRequestFieldSize, limitRequestBody } = this.limits;
    const line = req.method!.length + req.url!.length + REQUEST_LINE_EXTRA;
    if (limitRequestLine > 0 && line > limitRequestLine) {
      return { status: 414, why: `the request line is ${line} bytes; at most ${limitRequestLine} are accepted` };
    }
    const raw = req.rawHeaders;
    // Over HTTP/1 every field counts, so their number is known before the walk.
    if (!stream && raw.length > 2 * this.maxFields) return this.tooManyFields();
    let fields = 0;
    let host: string | undefined;
    let contentLength: string | undefined;
    let chunked = false;
    let typed = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (stream) {
        if (name.charCodeAt(0) === COLON) continue;
        if (++fields > this.maxFields) return this.tooManyFields();
      }
      const size = name.length + value.length + FIELD_LINE_EXTRA;
      if (limitRequestFieldSize > 0 && size > limitRequestFieldSize) {
        return { status: 431, why: `a header field line of ${size} bytes; at most ${limitRequestFieldSize} are accepted` };
      }
      // Only the names whose length matches are compared.
      if (name.length === 14 && isNamed(name, 'content-length')) contentLength = value;
      else if (stream) continue;
      else if (name.length === 4 && isNamed(name, 'host')) {
        if (host !== undefined) return { status: 400, why: 'more than one Host header' };
        host = value;
      } else if (name.length === 17 && isNamed(name, 'transfer-encoding')) chunked = true;
      else if (name.length === 12 && isNamed(name, 'content-type')) {
        // One media type or two, as each reader picks (RFC 9110, 5.3): as ambiguous as two Hosts.
        if (typed) return { status: 400, why: 'more than one Content-Type header' };
        typed = true;
      }
    }
    if (stream) {
      const authority = req.headers.host;
      if (authority !== undefined && !HOST.test(authority)) return { status: 400, why: 'the :authority does not name a host' };
    } else {
      const refusal = http1HeadRefusal(req, host, chunked);
      if (refusal) return refusal;
    }
    // llhttp (or node:http2) has checked that a Content-Length is digits, and the only one.
    if (limitRequestBody > 0) {
      if (contentLength !== undefined && Number(contentLength) > limitRequestBody) {
        return { status: 413, why: `a body of ${contentLength} bytes; at most ${limitRequestBody} are accepted` };
      }
      if (stream && res) req[RESPONSE] = res;
    }
    return undefined;
  }

  private tooManyFields(): Refusal {
    return { status: 431, why: `more than ${this.maxFields} header fields; at most ${this.maxFields} are accepted` };
  }

  /**
   * Answer a refused request through its own response, so that one still being written before it
   * on the connection (pipelining) goes first. `Connection: close`, and the connection is marked so
   * that nothing after it reaches the app.
   */
  private refuse(req: IncomingMessage, res: ServerResponse, { status, why }: Refusal): void {
    // An HTTP/2 connection carries other streams, which go on: the refusal ends its own.
    if (!isStream(req)) (req.socket as GuardedSocket)[CLOSING] = true;
    this.log.debug({ status, remoteAddress: req.socket.remoteAddress }, `Refused a request: ${why}`);
    res.shouldKeepAlive = false;
    answerPlainText(res, status, `${STATUS_CODES[status]}: ${why}`);
  }

  /**
   * Hand the request to the app once the parser has finished what arrived with it: in the same
   * turn of the event loop, after its reads. Not a microtask: Node runs those between the parser's
   * callbacks (after each piece of body), before it has seen the rest of the packet.
   */
  private defer(req: IncomingMessage, res: ServerResponse): void {
    this.pending.push(req, res);
    if (this.pending.length === 2) {
      setImmediate(this.handOver);
      // Queued with it, to run in the same turn: one queued from the hand-over would run after a poll.
      if (this.afterHandOver) setImmediate(this.afterHandOver);
    }
  }

  private readonly handOver = (): void => {
    const batch = this.pending;
    this.pending = this.spare;
    for (let i = 0; i < batch.length; i += 2) {
      const req = batch[i] as IncomingMessage;
      const res = batch[i + 1] as ServerResponse;
      // Closed meanwhile: the parser rejected what came next, or the client left; or answered
      // meanwhile: an HTTP/2 body passed the limit.
      if (!req.socket.destroyed && !res.writableEnded) this.dispatch(req, res);
    }
    batch.length = 0;
    this.spare = batch;
  };

  /**
   * Node's 'clientError': the parser rejected what came on `socket`, or its head took too long.
   * A listener replaces Node's own answer, so this gives the same one (same statuses, same
   * condition: the socket can still be written and no response has begun on it), except to a
   * connection that never sent a byte: no request, so no answer and no line.
   */
  private readonly onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    // Bytes after a request that ends its connection (`Connection: close`, HTTP/1.0 without
    // keep-alive): that request is answered, and its response closes the connection. The parser
    // reads no further, and says so again for each later read: the bytes are thrown away.
    if (err.code === 'HPE_CLOSED_CONNECTION') return;
    const status = rejectionStatus(err.code);
    if (socket.bytesRead > 0) this.answerRaw(socket, status, err.message);
    socket.destroy(err);
  };

  /** A chunked body has passed --limit-request-body: 413, and the connection is closed. Over
   *  HTTP/2, the stream: 413 if the response has not begun, then the client is told to stop
   *  sending; else it is cut off, and the app's request fails as if the client had gone. */
  private readonly bodyOverLimit = (req: IncomingMessage): void => {
    const why = `a body of more than ${this.limits.limitRequestBody} bytes`;
    if (!isStream(req)) {
      this.answerRaw(req.socket, 413, why);
      req.socket.destroy();
      return;
    }
    const res = req[RESPONSE];
    const { stream } = req;
    if (res && !res.headersSent && !res.writableEnded) {
      this.refuse(req, res, { status: 413, why });
      // Once the answer is handed over (the response's own 'finish' waits for the stream to close,
      // which it would not while the client has body left to send). node:http2 destroys a stream
      // closed with NO_ERROR only once what it has read is consumed: it is let flow, and the
      // request class throws it away.
      const close = () => {
        stream.close(NGHTTP2_NO_ERROR);
        stream.resume();
      };
      if (stream.writableFinished) close();
      else stream.once('finish', close);
    } else {
      stream.close(NGHTTP2_CANCEL);
    }
  };

  /**
   * A refusal written on the socket itself, before it is destroyed (the parser cannot go on). A
   * response the app never began is what the client takes it for: that response's access-log line
   * gives the status when it closes; with none, the line is written here.
   */
  private answerRaw(socket: GuardedSocket, status: number, why: string): void {
    socket[CLOSING] = true;
    const inFlight = socket._httpMessage;
    if (!socket.writable || inFlight?._headerSent) return;
    this.log.debug({ status, remoteAddress: socket.remoteAddress }, `Refused a request: ${why}`);
    socket.write(rawAnswer(status));
    if (inFlight) markRefused(inFlight, status);
    else this.accessLog?.rejected(socket.remoteAddress, status);
  }
}

const ignore = (): void => {};
