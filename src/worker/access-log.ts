/**
 * A worker's access log: one line per request, written when its response closes — finished, failed
 * (the app threw: 500), or cut short by the client — and one for a request refused before it had a
 * response (worker/limits.ts).
 *
 * Lines go to the log through access-log-writer.ts: off the event loop, in whole lines, within a
 * quarter of a second on a quiet server, bounded in memory when the log cannot take them, reopened
 * on USR1 with the error log, and written before the worker exits, however it exits.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { type AccessFormatter, type AccessRecord, compileAccessFormat } from '../shared/access-format';
import { type Logger, reopenedOnUsr1 } from '../shared/log';
import { AccessLogWriter } from './access-log-writer';
import { mountOf } from './mount-tag';
import { inherited } from './own';
import { dropped, refusedStatus } from './refused';

/** The longest a stopping worker waits for its lines to be written (a pipe read slowly). */
const EXIT_FLUSH_MS = 2000;
/** nginx's status for a request whose client closed the connection before a response began. */
export const CLIENT_CLOSED_REQUEST = 499;

type NodeResponse = ServerResponse & {
  /** node:http's own flag: false for HEAD, 204 and 304, whose bodies it drops. */
  _hasBody: boolean;
};

/** A server's response class: node:http's, or node:http2's over HTTP/2 (worker/tls.ts). */
export type ResponseClass = typeof ServerResponse | typeof Http2ServerResponse;

/** What the access log's response class keeps of each response. */
interface LoggedResponse extends NodeResponse {
  /** performance.now() when the request arrived (its response is made then). */
  started: number;
  remoteAddress: string | undefined;
  /** The request's method and target as they arrived, before the app could rewrite them. */
  requestMethod: string | undefined;
  requestUrl: string | undefined;
  bodyBytes: number;
  headHeaders: unknown;
}

export class AccessLog {
  private constructor(
    private readonly writer: AccessLogWriter,
    private readonly format: AccessFormatter,
  ) {}

  /**
   * Open `target` ('-' is standard output, `stdoutFd`): a file that cannot be opened fails the
   * worker's boot with a message naming it. The format was checked when the settings were read.
   */
  static open(target: string, format: string, stdoutFd: number, log: Logger): AccessLog {
    const compiled = compileAccessFormat(format);
    if (typeof compiled !== 'function') throw new Error(`--access-logformat: ${compiled.problem}`);
    const writer = AccessLogWriter.open(target, stdoutFd, log);
    reopenedOnUsr1(writer);
    return new AccessLog(writer, compiled);
  }

  /** Lines dropped since the worker started: the log could not take them (access-log-writer.ts). */
  get dropped(): number {
    return this.writer.dropped;
  }

  /**
   * The server's response class: `base` keeping what the line needs of each response — when its
   * request arrived, the peer, the body bytes written (Node keeps no count), the headers given to
   * writeHead (which `getHeader` does not see when none was set before) — and logging it when it
   * closes. Its `writeHead`, `write` and `end` are each response's own (own.ts), so that an app
   * replacing the response's prototype (Express) is counted too. One listener and one function of
   * each for every response, no closure per request; a server without an access log uses `base`
   * itself and pays nothing. Over HTTP/2 `base` is the worker's Http2ServerResponse, which reads
   * `_hasBody` and `writableFinished` as node:http does.
   */
  responseClass<T extends ResponseClass>(base: T): T {
    const byteLength = (chunk: unknown, encoding: unknown): number => {
      if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
    };
    const accessLog = this;
    // 'close' comes once per response: when it is done, or when its connection is lost.
    function onClose(this: LoggedResponse) {
      accessLog.requestDone(this);
    }
    function writeHead(this: LoggedResponse, statusCode: number, message?: unknown, headers?: unknown): LoggedResponse {
      this.headHeaders = typeof message === 'object' ? message : headers;
      return (inherited(this, 'writeHead') as Write<LoggedResponse>).call(this, statusCode, message, headers);
    }
    // Counted after the call, which sets the headers (and so `_hasBody`) on a first write.
    // Explicit parameters, as Node's own take them: no array per call.
    function write(this: LoggedResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
      const open = !this.writableEnded;
      const result = (inherited(this, 'write') as Write<boolean>).call(this, chunk, encoding, callback);
      if (open && this._hasBody) this.bodyBytes += byteLength(chunk, encoding);
      return result;
    }
    function end(this: LoggedResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): LoggedResponse {
      const open = !this.writableEnded;
      const counted = this.bodyBytes;
      (inherited(this, 'end') as Write<LoggedResponse>).call(this, chunk, encoding, callback);
      // node:http2's end() writes its chunk through write(), which has counted it.
      if (open && this._hasBody && typeof chunk !== 'function' && this.bodyBytes === counted) this.bodyBytes += byteLength(chunk, encoding);
      return this;
    }

    return class LoggedServerResponse
      extends (base as unknown as new (req: IncomingMessage, options?: object) => NodeResponse)
      implements LoggedResponse
    {
      started = performance.now();
      bodyBytes = 0;
      headHeaders: unknown = undefined;
      // Read now: a socket closed under its request no longer knows its peer (Node caches it).
      remoteAddress: string | undefined;
      // Read now: the app may rewrite them (an Express router strips its mount path from req.url).
      requestMethod: string | undefined;
      requestUrl: string | undefined;

      // (req, options) from node:http, (stream, options) from node:http2: both set `this.req`.
      constructor(req: IncomingMessage, options?: object) {
        super(req, options);
        this.remoteAddress = this.req.socket.remoteAddress;
        this.requestMethod = this.req.method;
        this.requestUrl = this.req.url;
        const own = this as unknown as Record<'writeHead' | 'write' | 'end', unknown>;
        own.writeHead = writeHead;
        own.write = write;
        own.end = end;
        this.on('close', onClose);
      }
    } as unknown as T;
  }

  private requestDone(res: LoggedResponse): void {
    if (dropped(res)) return;
    const duration = performance.now() - res.started;
    this.write({
      req: res.req,
      res,
      method: res.requestMethod,
      url: res.requestUrl,
      remoteAddress: res.remoteAddress,
      // A response never begun has no status of its own: the refusal written in its place, if
      // any (worker/limits.ts), else the client left (as nginx says it).
      status: res.headersSent ? res.statusCode : (refusedStatus(res) ?? CLIENT_CLOSED_REQUEST),
      bytes: res.bodyBytes,
      startedAt: Date.now() - duration,
      duration,
      aborted: !res.writableFinished,
      headHeaders: res.headHeaders,
      mount: mountOf(res.req),
    });
  }

  /**
   * A request refused without a response of its own (worker/limits.ts answers it) gets a line with
   * its request when its head was read (a refused upgrade or CONNECT), without when it was not (Node's
   * parser rejected it, or it took too long).
   */
  rejected(remoteAddress: string | undefined, status: number, req?: IncomingMessage): void {
    this.write({
      req,
      res: undefined,
      method: req?.method,
      url: req?.url,
      remoteAddress,
      status,
      bytes: 0,
      startedAt: Date.now(),
      duration: 0,
      aborted: false,
      headHeaders: undefined,
      mount: undefined,
    });
  }

  private write(record: AccessRecord): void {
    this.writer.add(this.format(record));
  }

  /**
   * Before the worker exits: every line written, or given up after a while, and what is left said
   * and counted (in `dropped`, for the last heartbeat).
   */
  async close(): Promise<void> {
    await this.writer.flush(EXIT_FLUSH_MS);
    this.writer.close();
  }
}

type Write<R> = (chunk: unknown, encoding?: unknown, callback?: unknown) => R;
