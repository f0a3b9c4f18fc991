/**
 * A worker's access log: one line per request, written when its response closes — finished, failed
 * (the app threw: 500), or cut short by the client — and one for a request refused before it had a
 * response (worker/limits.ts).
 *
 * Lines are gathered in memory and handed to the stream in whole-line chunks (log.ts writes them
 * off the event loop), within a quarter of a second on a quiet server. The stream is reopened on
 * USR1 with the error log; what is gathered is written before the worker exits, however it exits.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { compileAccessFormat, type AccessFormatter, type AccessRecord } from '../access-format';
import { flushAtExit, openLogStream, type Logger, type LogStream } from '../log';
import { dropped, refusedStatus } from './limits';
import { inherited } from './own';

/** The longest a line waits in memory on a quiet server. */
const FLUSH_MS = 250;
/** The longest a stopping worker waits for its lines to be written (a pipe nobody reads). */
const EXIT_FLUSH_MS = 2000;
/** A failing stream (disk full, file gone) is reported at most this often. */
const ERROR_REPORT_MS = 60_000;
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
  /** Lines not yet handed to the stream, and their size in bytes. */
  private gathered = '';
  private gatheredBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** A write is under way: the stream emits 'drain' when it is done and has nothing queued. */
  private writing = false;
  private lastErrorReport = -Infinity;

  private constructor(
    private readonly stream: LogStream,
    private readonly format: AccessFormatter,
    private readonly log: Logger,
  ) {
    stream.on('drain', () => (this.writing = false));
    stream.on('error', (err) => this.reportError(err));
    // Registered after log.ts's own exit handler: what is gathered is written here, synchronously
    // (handed to the stream, it would be written off the event loop, which exit does not wait for).
    process.on('exit', () => {
      clearTimeout(this.flushTimer);
      const gathered = this.gathered;
      this.gathered = '';
      flushAtExit(stream, gathered);
    });
  }

  /**
   * Open `target` ('-' is standard output, `stdoutFd`) and wait until it can be written: a file that
   * cannot be opened fails the worker's boot with a message naming it. The format was checked when
   * the settings were read.
   */
  static async open(target: string, format: string, stdoutFd: number, log: Logger): Promise<AccessLog> {
    const compiled = compileAccessFormat(format);
    if (typeof compiled !== 'function') throw new Error(`--access-logformat: ${compiled.problem}`);
    const stream = openLogStream(target, stdoutFd, false);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(new Error(`cannot open the access log ${target}: ${err.message}`, { cause: err }));
      stream.once('ready', () => {
        stream.off('error', onError);
        resolve();
      });
      stream.on('error', onError);
    });
    return new AccessLog(stream, compiled, log);
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

    return class LoggedServerResponse extends (base as unknown as new (req: IncomingMessage, options?: object) => NodeResponse) implements LoggedResponse {
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
    });
  }

  /**
   * A request refused without a response of its own (worker/limits.ts answers it) gets a line with
   * its request when its head was read (a refused upgrade or CONNECT), without when it was not (Node's
   * parser rejected it, or it took too long).
   */
  rejected(remoteAddress: string | undefined, status: number, req?: IncomingMessage): void {
    this.write({ req, res: undefined, method: req?.method, url: req?.url, remoteAddress, status, bytes: 0, startedAt: Date.now(), duration: 0, aborted: false, headHeaders: undefined });
  }

  private write(record: AccessRecord): void {
    const line = this.format(record);
    const bytes = Buffer.byteLength(line);
    if (this.gatheredBytes + bytes > this.stream.maxWrite) this.handOver();
    this.gathered += line;
    this.gatheredBytes += bytes;
    this.flushTimer ??= setTimeout(this.handOver, FLUSH_MS).unref();
  }

  /** Give the gathered lines to the stream, which writes them at once, or after the write under way. */
  private readonly handOver = (): void => {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.gathered === '') return;
    this.writing = true;
    this.stream.write(this.gathered);
    this.gathered = '';
    this.gatheredBytes = 0;
  };

  /** Before the worker exits: every line handed over and written, or given up after a while. */
  flush(): Promise<void> {
    this.handOver();
    if (!this.writing) return Promise.resolve();
    // A write that fails (a full disk) ends the wait too: the exit flush tries once more.
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stream.off('drain', done);
        this.stream.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, EXIT_FLUSH_MS);
      this.stream.once('drain', done);
      this.stream.once('error', done);
    });
  }

  private reportError(err: NodeJS.ErrnoException): void {
    // SonicBoom stops after a failed write and retries it with the next one: no drain is coming.
    this.writing = false;
    const now = performance.now();
    if (now - this.lastErrorReport < ERROR_REPORT_MS) return;
    this.lastErrorReport = now;
    if (err.syscall === 'open') {
      // A reopen that failed after log.ts found the file could be opened (a race with its removal).
      this.log.error({ err }, `Cannot reopen the access log: ${err.message}; its lines go on to the file as it was until a USR1 reopens it`);
    } else {
      this.log.error({ err }, `Cannot write the access log: ${err.message}; its lines are kept and written with the next ones`);
    }
  }
}

type Write<R> = (chunk: unknown, encoding?: unknown, callback?: unknown) => R;
