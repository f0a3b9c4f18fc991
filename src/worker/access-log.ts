/**
 * A worker's access log: one line per request, written when its response closes — finished, failed
 * (the app threw: 500), or cut short by the client — and one for a request Node's parser rejected.
 * Lines are gathered and written in the background (log.ts), and reach the file within a quarter
 * of a second; the stream is reopened on USR1 with the error log, and flushed before the worker
 * exits.
 */
import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { compileAccessFormat, type AccessFormatter, type AccessRecord } from '../access-format';
import { openLogStream, type Logger, type LogStream } from '../log';

/** The longest a line waits in the stream's buffer on a quiet server. */
const FLUSH_MS = 250;
/** The longest a stopping worker waits for the log to be written before it exits anyway. */
const EXIT_FLUSH_MS = 2000;
/** A failing stream (disk full, reader gone) is reported at most this often. */
const ERROR_REPORT_MS = 60_000;
/** nginx's status for a request whose client closed the connection before a response began. */
export const CLIENT_CLOSED_REQUEST = 499;

type NodeResponse = ServerResponse & {
  /** node:http's own flag: false for HEAD, 204 and 304, whose bodies it drops. */
  _hasBody: boolean;
};

/** The response class, counting what the access log reports about each response. */
interface LoggedResponse extends NodeResponse {
  bodyBytes: number;
  headHeaders: unknown;
}

export class AccessLog {
  private flushTimer: NodeJS.Timeout | undefined;
  private lastErrorReport = -Infinity;

  private constructor(
    private readonly stream: LogStream,
    private readonly format: AccessFormatter,
    private readonly log: Logger,
  ) {
    stream.on('error', (err) => this.reportError(err));
  }

  /**
   * Open `target` ('-' is standard output, `stdoutFd`) once it is ready to write: a file that
   * cannot be opened fails the worker's boot with a message naming it. The format was checked
   * when the settings were read.
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

  /** The server's 'request' listener, with every request logged when its response closes. */
  recording(dispatch: RequestListener): RequestListener {
    return (req, res) => {
      const started = performance.now();
      // Read now: a socket closed under its request no longer knows its peer (Node caches it).
      const remoteAddress = req.socket.remoteAddress;
      res.once('close', () => this.requestDone(req, res as LoggedResponse, remoteAddress, started));
      dispatch(req, res);
    };
  }

  private requestDone(req: IncomingMessage, res: LoggedResponse, remoteAddress: string | undefined, started: number): void {
    const duration = performance.now() - started;
    const aborted = !res.writableFinished;
    this.write({
      req,
      res,
      remoteAddress,
      // A response never begun has no status of its own: say the client left (as nginx does).
      status: res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST,
      bytes: res.bodyBytes,
      startedAt: Date.now() - duration,
      duration,
      aborted,
      headHeaders: res.headHeaders,
    });
  }

  /**
   * The server's 'clientError' listener: Node's parser rejected what came on `socket`. With a
   * listener Node no longer answers by itself, so this answers as Node's default does (same
   * statuses, same condition: the socket can still be written and no response has begun on it),
   * and logs the rejection. A connection reset or timed out with nothing to answer is no request.
   */
  readonly onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    const inFlight = (socket as Socket & { _httpMessage?: (ServerResponse & { _headerSent: boolean }) | null })._httpMessage;
    if (socket.writable && !inFlight?._headerSent) {
      const status = rejectionStatus(err.code);
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      // A response in flight here gets its own line when it closes, for its request.
      if (!inFlight) {
        const at = Date.now();
        this.write({ req: undefined, res: undefined, remoteAddress: socket.remoteAddress, status, bytes: 0, startedAt: at, duration: 0, aborted: false, headHeaders: undefined });
      }
    }
    socket.destroy(err);
  };

  private write(record: AccessRecord): void {
    this.stream.write(this.format(record));
    this.flushTimer ??= setTimeout(this.flushGathered, FLUSH_MS).unref();
  }

  /** On a quiet server lines would wait in the buffer until enough of them came. */
  private readonly flushGathered = (): void => {
    this.flushTimer = undefined;
    this.stream.flush();
  };

  /** Before the worker exits: every line handed to the file or pipe, or given up after a while
   *  (a pipe nobody reads). What the stream still gathers then is written at exit (log.ts). */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, EXIT_FLUSH_MS);
      this.stream.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private reportError(err: NodeJS.ErrnoException): void {
    const now = performance.now();
    if (now - this.lastErrorReport < ERROR_REPORT_MS) return;
    this.lastErrorReport = now;
    this.log.error({ err }, `Cannot write the access log: ${err.message}; lines are kept and retried`);
  }
}

/** Node's own answers to what its parser rejects (node:http's socketOnError). */
function rejectionStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

type Write<R> = (chunk: unknown, encoding?: unknown, callback?: unknown) => R;

/**
 * `base` counting the body bytes each response writes (Node keeps no count) and keeping the headers
 * given to writeHead, which `getHeader` does not see when no header was set before. Only the
 * access log's server uses it: without one, responses pay nothing for it.
 */
export function loggedResponseClass(base: typeof ServerResponse): typeof ServerResponse {
  const byteLength = (chunk: unknown, encoding: unknown): number => {
    if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    return (chunk as { byteLength?: number } | null)?.byteLength ?? 0;
  };

  return class LoggedServerResponse extends (base as unknown as new (req: IncomingMessage) => NodeResponse) implements LoggedResponse {
    bodyBytes = 0;
    headHeaders: unknown = undefined;

    override writeHead(statusCode: number, message?: unknown, headers?: unknown): this {
      this.headHeaders = typeof message === 'object' ? message : headers;
      return (super.writeHead as (statusCode: number, message?: unknown, headers?: unknown) => this)(statusCode, message, headers);
    }

    // Counted after the call, which sets the headers (and so `_hasBody`) on a first write.
    // Explicit parameters, as Node's own take them: no array per call.
    override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
      const open = !this.writableEnded;
      const result = (super.write as Write<boolean>)(chunk, encoding, callback);
      if (open && this._hasBody) this.bodyBytes += byteLength(chunk, encoding);
      return result;
    }

    override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
      const open = !this.writableEnded;
      (super.end as Write<this>)(chunk, encoding, callback);
      if (open && this._hasBody && typeof chunk !== 'function') this.bodyBytes += byteLength(chunk, encoding);
      return this;
    }
  } as unknown as typeof ServerResponse;
}
