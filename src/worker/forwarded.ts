/**
 * What a proxy in front of unicorn says about the client — X-Forwarded-For, X-Forwarded-Proto,
 * X-Forwarded-Host, or Forwarded (RFC 7239) — applied when the connection's peer is in
 * `--forwarded-allow-ips`, where Node apps and frameworks look for the client:
 *
 * - the address: `req.socket.remoteAddress`, `remotePort`, `remoteFamily` (so Express's `req.ip`,
 *   Fastify's `request.ip`, Koa's `ctx.ip` and the access log's `%(h)s`);
 * - the scheme: `req.socket.encrypted` is true for https (Express's `req.protocol` and `req.secure`,
 *   Fastify's and Koa's `protocol`, the Fetch Request's URL);
 * - the host: `req.headers.host` (and the Fetch Request's URL).
 *
 * The headers themselves are left as they came. A framework told to trust the proxy as well (Express's
 * `trust proxy`, Fastify's `trustProxy`) reads the same answer: its own walk starts from an address
 * it does not trust, so it falls back on the socket and Host, which say what unicorn found.
 *
 * The socket's fields belong to the connection, and a keep-alive connection from a proxy carries the
 * requests of many clients: they are set again as each request arrives (to the peer's own when a
 * request forwards nothing). A request pipelined behind another overwrites them before the one
 * ahead is answered; proxies do not pipeline to their upstreams.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP, isIPv4, isIPv6, type Socket } from 'node:net';
import { type PeerTest, peerOf } from '../shared/trusted-peers';
import type { ResponseClass } from './access-log';
import { HOST } from './http-rules';

/** Node's cache of a socket's peer, which its remoteAddress, remotePort and remoteFamily read. */
interface Peername {
  address: string | undefined;
  port: number | undefined;
  family: string | undefined;
}

/** A client as a proxy names it. */
export interface ForwardedNode {
  address: string;
  /** Forwarded's `for` may carry the client's port; X-Forwarded-For rarely does. */
  port: number | undefined;
  family: 'IPv4' | 'IPv6';
}

/** What a request's trusted headers say. Undefined: not said, or not a value that could be used. */
export interface Forwarded {
  client: ForwardedNode | undefined;
  scheme: 'http' | 'https' | undefined;
  host: string | undefined;
}

/** The request's forwarded headers, each header's lines joined as Node joins them. */
interface Found {
  for?: string;
  proto?: string;
  host?: string;
  forwarded?: string;
}

/** What a connection's first request settled: whether its peer is trusted and, if so, the peer
 *  itself (a request that forwards nothing gets it back) and whether the connection is TLS. */
interface Connection {
  trusted: boolean;
  peer: Peername | undefined;
  tls: boolean;
  /** A request on it has had forwarded values applied. */
  applied: boolean;
}

const UNTRUSTED: Connection = Object.freeze({ trusted: false, peer: undefined, tls: false, applied: false });
const CONNECTION = Symbol('unicorn.forwarded');
type ForwardedSocket = Socket & { [CONNECTION]?: Connection; _peername?: Peername; encrypted?: boolean };

const PORT = /^\d{1,5}$/;

/**
 * The function applying a request's forwarded headers, for peers `trusted` lets through. It runs
 * for every request, from the response's constructor: before the access log notes the peer and
 * before the app sees the request. A request with none of the headers (most: every one a client
 * sends directly) costs a look at its raw header names; the peer is looked up (a getpeername(2))
 * and its trust settled only for a connection whose requests carry them.
 */
export function forwardedApplier(trusted: PeerTest): (req: IncomingMessage) => void {
  return (req) => {
    const socket = req.socket as ForwardedSocket;
    let connection = socket[CONNECTION];
    if (connection === UNTRUSTED) return;
    const found = forwardedHeaders(req.rawHeaders);
    if (found === undefined) {
      if (connection?.applied) restore(socket, connection);
      return;
    }
    connection ??= socket[CONNECTION] = connectionOf(socket, trusted);
    if (!connection.trusted) return;
    if ('stream' in req) return applyToStream(req, found, trusted);
    const { client, scheme, host } = resolveForwarded(found, trusted);
    socket._peername = client ?? connection.peer;
    // A TLS connection stays https, whatever a proxy behind it says.
    if (!connection.tls) socket.encrypted = scheme === 'https';
    if (host !== undefined) req.headers.host = host;
    connection.applied = true;
  };
}

/**
 * An HTTP/2 request (--http2): one connection carries the streams of many clients at once (a proxy
 * multiplexes them), so nothing is set on the connection's socket. The request gets a `socket` of
 * its own instead, which reads as node:http2's socket does but for the client's address, port and
 * family; the host goes to `:authority` as well as Host (the Fetch URL reads the former). The
 * connection is TLS, so the scheme stays https.
 */
function applyToStream(req: IncomingMessage, found: Found, trusted: PeerTest): void {
  const { client, host } = resolveForwarded(found, trusted);
  if (client !== undefined) {
    const own = { remoteAddress: { value: client.address }, remotePort: { value: client.port }, remoteFamily: { value: client.family } };
    Object.defineProperty(req, 'socket', { value: Object.create(req.socket, own) as Socket, configurable: true });
  }
  if (host !== undefined) {
    req.headers.host = host;
    req.headers[':authority'] = host;
  }
}

/** The server's response class (node:http's, or node:http2's with --http2), applying forwarded
 *  headers as each response (so each request) is made: both set `this.req` first. */
export function forwardedResponseClass<T extends ResponseClass>(base: T, apply: (req: IncomingMessage) => void): T {
  return class ForwardedResponse extends (base as unknown as new (req: IncomingMessage, options?: object) => ServerResponse) {
    constructor(req: IncomingMessage, options?: object) {
      super(req, options);
      apply(this.req);
    }
  } as unknown as T;
}

function connectionOf(socket: ForwardedSocket, trusted: PeerTest): Connection {
  if (!trusted(peerOf(socket))) return UNTRUSTED;
  const peer = { address: socket.remoteAddress, port: socket.remotePort, family: socket.remoteFamily };
  return { trusted: true, peer, tls: socket.encrypted === true, applied: false };
}

function restore(socket: ForwardedSocket, connection: Connection): void {
  socket._peername = connection.peer;
  if (!connection.tls) socket.encrypted = false;
  connection.applied = false;
}

/** The forwarded headers among a request's raw ones, or undefined when it has none (most requests):
 *  names are told apart by length and first letter before any is lower-cased. */
function forwardedHeaders(raw: string[]): Found | undefined {
  let found: Found | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const first = name.charCodeAt(0) | 0x20;
    let key: keyof Found | undefined;
    if (first === 0x78 /* x */) {
      if (name.length === 15 && name.toLowerCase() === 'x-forwarded-for') key = 'for';
      else if (name.length === 17 && name.toLowerCase() === 'x-forwarded-proto') key = 'proto';
      else if (name.length === 16 && name.toLowerCase() === 'x-forwarded-host') key = 'host';
    } else if (first === 0x66 /* f */ && name.length === 9 && name.toLowerCase() === 'forwarded') {
      key = 'forwarded';
    }
    if (key === undefined) continue;
    found ??= {};
    found[key] = found[key] === undefined ? raw[i + 1]! : `${found[key]}, ${raw[i + 1]!}`;
  }
  return found;
}

/**
 * What the headers say. X-Forwarded-* are read when a request has any of them (what nginx, HAProxy,
 * Caddy, Traefik, Envoy and the cloud load balancers send); Forwarded only when it has none, so
 * that a client's own Forwarded cannot pass through a proxy that only appends to X-Forwarded-For.
 *
 * - The client is found as Express's `trust proxy` and uvicorn find it: from the right (the entry
 *   the nearest proxy added), skipping entries that are themselves trusted proxies; the first that is
 *   not is the client, and when all are, the leftmost. With `*`, that is the leftmost. An entry that
 *   is not an IP address (`unknown`, an obfuscated name) ends the walk at the address before it.
 * - X-Forwarded-Proto and X-Forwarded-Host: their first (leftmost) value, as Express reads them
 *   (proxies set these rather than append to them).
 * - Forwarded's `proto` and `host`: from the element the walk stopped at, the hop the client came in by.
 */
export function resolveForwarded(found: Found, trusted: PeerTest): Forwarded {
  if (found.for !== undefined || found.proto !== undefined || found.host !== undefined) {
    return {
      client: found.for === undefined ? undefined : chooseClient(found.for.split(','), trusted).client,
      scheme: schemeOf(firstValue(found.proto)),
      host: hostOf(firstValue(found.host)),
    };
  }
  const elements = parseForwardedHeader(found.forwarded ?? '');
  const { client, index } = chooseClient(
    elements.map((element) => element.for),
    trusted,
  );
  return { client, scheme: schemeOf(elements[index]?.proto), host: hostOf(elements[index]?.host) };
}

/** Walk the nodes from the right (see resolveForwarded); `index` is where the walk stopped. */
function chooseClient(nodes: Array<string | undefined>, trusted: PeerTest): { client: ForwardedNode | undefined; index: number } {
  let client: ForwardedNode | undefined;
  let index = nodes.length - 1;
  for (; index >= 0; index--) {
    const node = parseNode(nodes[index]);
    if (node === undefined) break;
    client = node;
    if (!trusted(node.address)) break;
  }
  return { client, index: Math.max(index, 0) };
}

/** `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`; anything else is no address. */
export function parseNode(text: string | undefined): ForwardedNode | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    const address = value.slice(1, close);
    if (close === -1 || !isIPv6(address)) return undefined;
    const port = portOf(value.slice(close + 1));
    return port === null ? undefined : { address, port, family: 'IPv6' };
  }
  const version = isIP(value);
  if (version !== 0) return { address: value, port: undefined, family: version === 4 ? 'IPv4' : 'IPv6' };
  const colon = value.lastIndexOf(':');
  if (colon === -1 || !isIPv4(value.slice(0, colon))) return undefined;
  const port = portOf(value.slice(colon));
  return port === null || port === undefined ? undefined : { address: value.slice(0, colon), port, family: 'IPv4' };
}

/** `:4711` as a port, '' as none, anything else null. */
function portOf(text: string): number | undefined | null {
  if (text === '') return undefined;
  const digits = text.slice(1);
  return text[0] === ':' && PORT.test(digits) && Number(digits) <= 65535 ? Number(digits) : null;
}

const firstValue = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  const comma = value.indexOf(',');
  return comma === -1 ? value : value.slice(0, comma);
};

function schemeOf(value: string | undefined): Forwarded['scheme'] {
  const scheme = value?.trim().toLowerCase();
  return scheme === 'https' || scheme === 'http' ? scheme : undefined;
}

/** A host as the Host header may hold one (the Fetch adapter's check): anything else is ignored. */
function hostOf(value: string | undefined): string | undefined {
  const host = value?.trim();
  return host !== undefined && HOST.test(host) ? host : undefined;
}

interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
}

/**
 * RFC 7239's `Forwarded: for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8::1]:4711"`:
 * one element per hop, each of `name=value` pairs, values tokens or quoted strings. Only `for`,
 * `proto` and `host` are kept (the first of each in an element); a pair without `=` is skipped.
 */
export function parseForwardedHeader(value: string): ForwardedElement[] {
  const elements: ForwardedElement[] = [];
  let element: ForwardedElement = {};
  let name = '';
  let text = '';
  let inValue = false;
  const endPair = () => {
    const key = name.trim().toLowerCase();
    if (inValue && (key === 'for' || key === 'proto' || key === 'host')) element[key] ??= text.trim();
    name = '';
    text = '';
    inValue = false;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inValue && c === '"') {
      // A quoted string: up to the closing quote, a backslash taking the next character as it is.
      for (i++; i < value.length && value[i] !== '"'; i++) text += value[i] === '\\' ? (value[++i] ?? '') : value[i];
    } else if (c === ';' || c === ',') {
      endPair();
      if (c === ',') {
        elements.push(element);
        element = {};
      }
    } else if (!inValue && c === '=') {
      inValue = true;
    } else if (inValue) {
      text += c;
    } else {
      name += c;
    }
  }
  endPair();
  elements.push(element);
  return elements;
}
