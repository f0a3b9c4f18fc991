import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { kindOf } from './load';

/** A Fetch-style handler, as Hono, itty-router and `export default { fetch }` apps have. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

const BODYLESS = new Set(['GET', 'HEAD']);

/**
 * Adapt a Fetch handler to a Node request listener: the incoming message becomes a `Request` (its
 * body streamed, its signal aborted when the client goes away) and the `Response` is streamed back
 * with backpressure. A request whose target cannot form a URL is answered 400 and never reaches the
 * app. Errors thrown or rejected by the handler propagate to the caller, which answers 500.
 */
export function fetchListener(handler: FetchHandler): Listener {
  return (req, res) => {
    const request = toRequest(req, res);
    if (request === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('Bad Request\n');
      return undefined;
    }
    const result: unknown = handler(request);
    return isResponse(result) ? sendResponse(result, res) : Promise.resolve(result).then((response) => sendResponse(response, res));
  };
}

function toRequest(req: IncomingMessage, res: ServerResponse): Request | undefined {
  const target = req.url ?? '/';
  const url = target.startsWith('/') ? `http://${req.headers.host ?? 'localhost'}${target}` : target;
  const headers = new Headers();
  const raw = req.rawHeaders;
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  try {
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    const method = req.method ?? 'GET';
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: controller.signal };
    if (!BODYLESS.has(method)) {
      init.body = Readable.toWeb(req) as unknown as BodyInit;
      init.duplex = 'half';
    }
    return new Request(url, init);
  } catch {
    return undefined;
  }
}

function isResponse(value: unknown): value is Response {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Response).status === 'number' &&
    typeof (value as Response).headers?.forEach === 'function' &&
    'body' in value
  );
}

async function sendResponse(response: unknown, res: ServerResponse): Promise<void> {
  if (!isResponse(response)) {
    throw new TypeError(`the fetch handler returned ${kindOf(response)}, not a Response`);
  }
  const headers: OutgoingHttpHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(response.status, response.statusText || undefined, headers);

  const body = response.body as ReadableStream<Uint8Array> | null;
  if (body === null) {
    res.end();
    return;
  }
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
      if (!res.write(value)) await drained(res);
    }
    res.end();
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  }
}

/** Resolves when the response can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
