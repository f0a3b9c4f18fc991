/**
 * The arbiter's metrics endpoint: `GET /metrics` on an address of its own, 404 elsewhere. Unlike the
 * app's listeners, which only the workers accept on, this one the arbiter serves itself: the
 * exposition is the arbiter's view of every worker.
 */
import http from 'node:http';
import { formatAddress } from '../../src/config/address';
import type { Logger } from '../../src/shared/log';
import { isRunning } from '../../src/shared/pidfile';
import { CONTENT_TYPE } from '../../src/shared/prometheus-exposition';

export interface TcpAddress {
  host: string;
  port: number;
}

export interface ServeOptions {
  address: TcpAddress;
  /** How the address was given, for messages: `option bind "…"`, `UNICORN_PROMETHEUS_BIND "…"`. */
  given: string;
  log: Logger;
  /** The exposition, as of now. */
  render: () => string;
  /** The arbiter this one replaces (USR2), while it may still hold the address. */
  predecessor?: number;
}

/** How often an arbiter started by USR2 tries the address again while its predecessor holds it. */
const RETRY_MS = 500;

const EXPLAINED: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be resolved',
};

export class MetricsServer {
  private readonly server: http.Server;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly options: ServeOptions) {
    this.server = http.createServer((req, res) => this.answer(req, res));
  }

  /**
   * Listen, or throw an Error naming the address. An arbiter started by USR2 finds the address held
   * by the one it replaces, which serves on until it is stopped: it starts without the endpoint,
   * and takes the address over once its predecessor is gone.
   */
  static async start(options: ServeOptions): Promise<MetricsServer> {
    const server = new MetricsServer(options);
    const err = await server.listen();
    if (!err) return server;
    const { predecessor, log } = options;
    if (err.code === 'EADDRINUSE' && predecessor !== undefined && isRunning(predecessor)) {
      log.warn(
        { address: server.url, predecessorPid: predecessor },
        `Metrics address ${server.url} is held by the arbiter this one replaces (pid:${predecessor}); serving metrics once it has exited`,
      );
      server.retryUntilFree(predecessor);
      return server;
    }
    throw server.cannotListen(err);
  }

  /** The metrics URL, with the port listened on once listening. */
  get url(): string {
    const bound = this.server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : this.options.address.port;
    return `${formatAddress({ kind: 'tcp', host: this.options.address.host, port })}/metrics`;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A scraper's keep-alive connection would hold the close up.
    this.server.closeAllConnections();
    await closed;
  }

  private listen(): Promise<NodeJS.ErrnoException | undefined> {
    const { host, port } = this.options.address;
    return new Promise((resolve) => {
      const failed = (err: NodeJS.ErrnoException) => {
        this.server.off('listening', listening);
        resolve(err);
      };
      const listening = () => {
        this.server.off('error', failed);
        // Errors from here on (accept failing for want of file descriptors) must not take the
        // arbiter down.
        this.server.on('error', (err) => this.options.log.error({ err }, `prometheus: metrics server: ${err.message}`));
        this.options.log.info({ address: this.url }, `Metrics at ${this.url}`);
        resolve(undefined);
      };
      this.server.once('error', failed).once('listening', listening);
      this.server.listen({ host, port });
    });
  }

  private retryUntilFree(predecessor: number): void {
    this.retry = setTimeout(async () => {
      if (this.closed) return;
      // Whether it was still running before this attempt: after it, a failure is final.
      const waiting = isRunning(predecessor);
      const err = await this.listen();
      if (!err) return;
      if (err.code === 'EADDRINUSE' && waiting) return this.retryUntilFree(predecessor);
      this.options.log.error({ err, address: this.url }, `prometheus: ${this.cannotListen(err).message}; metrics are not served`);
    }, RETRY_MS);
    this.retry.unref();
  }

  private cannotListen(err: NodeJS.ErrnoException): Error {
    const why = err.code && EXPLAINED[err.code] ? `${EXPLAINED[err.code]} (${err.code})` : err.message;
    return new Error(`cannot serve metrics at ${this.url} (${this.options.given}): ${why}`, { cause: err });
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') return this.plain(res, 404, `Not found: the metrics are at /metrics\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return this.plain(res, 405, `Method not allowed: ${req.method}\n`);
    }
    let body: string;
    try {
      body = this.options.render();
    } catch (err) {
      this.options.log.error({ err }, `prometheus: collecting the metrics failed: ${(err as Error).message}`);
      return this.plain(res, 500, 'Collecting the metrics failed; see the arbiter log\n');
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private plain(res: http.ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
