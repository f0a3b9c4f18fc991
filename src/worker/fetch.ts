import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { kindOf } from '../shared/describe';
import { HOST } from './http-rules';

/** A Fetch-style handler, as Hono, itty-router and `export default { fetch }` apps have. */
export type FetchHandler = (request: Request, env: FetchEnv) => Response | Promise<Response>;

/**
 * A Fetch handler's second argument: Node's request and response, as @hono/node-server passes them
 * (so its `getConnInfo` works): `incoming.socket.remoteAddress` is the client's address.
 */
export interface FetchEnv {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  /** The prefix the app is mounted at (--mount), `/` for the app at the root: the Request's URL is relative to it. */
  mount: string;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

const BODYLESS = new Set(['GET', 'HEAD']);
const COLON = 0x3a;
/** Hop-by-hop headers: about the connection they came on (an upstream fetch's), not this one. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Responses that never carry a body, whatever the Response object holds. */
const NO_BODY_STATUS = new Set([204, 205, 304]);

/**
 * Adapt a Fetch handler to a Node request listener: the incoming message becomes a `Request` (its
 * body streamed, its signal aborted when the client goes away) and the `Response` is streamed back
 * with backpressure. A request whose Host or target cannot form a URL is answered 400 and never
 * reaches the app. Errors thrown or rejected by the handler propagate to the caller, which answers
 * 500.
 */
export function fetchListener(handler: FetchHandler): Listener {
  return (req, res) => {
    const request = toRequest(req, res);
    if (request === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('Bad Request\n');
      return undefined;
    }
    const mount = (req as IncomingMessage & { baseUrl?: string }).baseUrl ?? '/';
    const result: unknown = handler(request, { incoming: req, outgoing: res, mount });
    return isResponse(result)
      ? sendResponse(result, req, res)
      : Promise.resolve(result).then((response) => sendResponse(response, req, res));
  };
}

function toRequest(req: IncomingMessage, res: ServerResponse): Request | undefined {
  const target = req.url ?? '/';
  // HTTP/2 names the host in :authority (worker/tls.ts copies it to a missing Host). Without one, or
  // with an empty Host (a target without an authority), the URL still needs a host.
  const host = (req.headers[':authority'] as string | undefined) ?? (req.headers.host || 'localhost');
  // A Host that is not one would move the URL's path (`Host: example.com/admin?`): refused.
  if (!HOST.test(host)) return undefined;
  // https when the connection is TLS, or a trusted proxy says the client's was (forwarded.ts); HTTP/2's
  // :scheme is only what the client says it is.
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const url = target.startsWith('/') ? `${scheme}://${host}${target}` : target;
  const headers = new Headers();
  const raw = req.rawHeaders;
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  try {
    // HTTP/2's pseudo-headers (:method, :path…) are not headers: a Headers object refuses them.
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== COLON) headers.append(raw[i]!, raw[i + 1]!);
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

async function sendResponse(response: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isResponse(response)) {
    throw new TypeError(`the fetch handler returned ${kindOf(response)}, not a Response`);
  }
  const headers: OutgoingHttpHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && !HOP_BY_HOP.has(name)) headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  // A request body the app left unread cannot be skipped on this connection: close it after.
  if (!req.complete) res.shouldKeepAlive = false;
  res.writeHead(response.status, response.statusText || undefined, headers);

  const body = response.body as ReadableStream<Uint8Array> | null;
  if (body === null || req.method === 'HEAD' || NO_BODY_STATUS.has(response.status)) {
    // Node writes no body for these; reading one (perhaps endless) would only hold the headers back.
    if (body !== null) body.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = body.getReader();
  // A client that goes away stops the stream at once, not when its next chunk comes.
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once('close', onClose);
  if (res.destroyed) onClose(); // gone before the Response was ready
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!res.write(value)) await drained(res);
    }
    if (!res.destroyed) res.end();
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    res.off('close', onClose);
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
