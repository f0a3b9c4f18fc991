/** A small HTTP client for tests: a new connection per request unless an agent is given. */
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Milliseconds from sending to the end of the body. */
  ms: number;
  /** The request went on a connection the agent kept from an earlier one. */
  reusedSocket: boolean;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string;
  socketPath?: string;
  agent?: http.Agent | false;
  timeoutMs?: number;
  /** Called when the response headers arrive. */
  onResponse?: () => void;
  /** Writes the body and ends the request itself, instead of `body` (a body sent in parts). */
  send?: (req: http.ClientRequest) => unknown;
}

export function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        socketPath: options.socketPath,
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        options.onResponse?.();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body, ms: performance.now() - started, reusedSocket: req.reusedSocket }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (options.send) options.send(req);
    else req.end(options.body);
  });
}

/** Send `count` requests one after another; resolves with every reply or rejects on the first failure. */
export async function sequential(url: string, count: number, options: RequestOptions = {}): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await request(url, options));
  return replies;
}

/**
 * Send a request and know when a worker is handling it: `handling` resolves when the response
 * headers arrive. A reply cut short resolves as `{ error }` (Error classes differ between jest's
 * realm and Node's, so tests compare messages).
 */
export function inFlight(url: string, options: RequestOptions = {}) {
  let onResponse!: () => void;
  const handling = new Promise<void>((resolve) => (onResponse = resolve));
  const reply = request(url, { ...options, onResponse }).catch((err: Error) => ({ error: err.message }));
  return { handling, reply };
}
