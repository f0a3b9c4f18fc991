/**
 * What HTTP/1.1 (RFC 9112) says of a request head that Node's parser (llhttp) lets through, and how
 * Node answers what llhttp rejects: the rules the guard (limits.ts) applies, without its state.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';

/** A Host header that can only name a host: a name or IPv4 address, or a bracketed IPv6, and a port. */
export const HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** A request refused before the app sees it. */
export interface Refusal {
  status: number;
  /** For the client (the response's body) and the debug log. */
  why: string;
}

/** A request line is its method, target and `HTTP/1.x`, with two spaces between them. */
export const REQUEST_LINE_EXTRA = ' HTTP/1.1'.length + 1;
/** A header field line as Gunicorn measures it: `Name: value` and its CRLF. */
export const FIELD_LINE_EXTRA = ': '.length + '\r\n'.length;

/** Only HTTP/1.0 and 1.1 are spoken here (llhttp also takes 0.9 and 2.0 request lines). */
export function versionRefusal(req: IncomingMessage): Refusal {
  const version = `HTTP/${req.httpVersion}`;
  return req.httpVersionMajor === 0
    ? { status: 400, why: `${version} requests are not served` }
    : { status: 505, why: `${version} is not spoken here; HTTP/1.0 and HTTP/1.1 are` };
}

/**
 * A target that is not a path (llhttp takes `*…` and `scheme://…` as well). `*` alone, and only for
 * OPTIONS (RFC 9112, 3.2.4); else an absolute URI, whose authority names the host in place of the
 * Host header (3.2.2): it is held to what a Host is.
 */
export function targetRefusal(method: string, target: string): Refusal | undefined {
  if (target === '*') return method === 'OPTIONS' ? undefined : { status: 400, why: `the target * is for OPTIONS only, not ${method}` };
  const authority = ABSOLUTE_URI.exec(target)?.[1];
  if (authority === undefined) return { status: 400, why: 'the target is neither a path, an absolute URI nor * (for OPTIONS)' };
  if (!HOST.test(authority)) return { status: 400, why: "the target's authority does not name a host" };
  return undefined;
}

/**
 * What HTTP/1.1 refuses of a head once its fields are read (the guard's walk found its one `host`, and
 * whether it has a Transfer-Encoding): a Host that names no host, a target that is not a path, and
 * chunked framing in HTTP/1.0.
 */
export function http1HeadRefusal(req: IncomingMessage, host: string | undefined, chunked: boolean): Refusal | undefined {
  // A Host that names no host (`example.com/admin?`) would be read differently by each reader. An
  // empty one is allowed: it says the target has no authority (RFC 9112, 3.2).
  if (host && !HOST.test(host)) return { status: 400, why: 'the Host header does not name a host' };
  if (req.url!.charCodeAt(0) !== SLASH) {
    const refusal = targetRefusal(req.method!, req.url!);
    if (refusal) return refusal;
  }
  // HTTP/1.0 has no chunked framing: a body whose length is in doubt (RFC 9112, 6.1).
  if (chunked && req.httpVersionMinor === 0) return { status: 400, why: 'Transfer-Encoding in an HTTP/1.0 request' };
  return undefined;
}

const SLASH = 0x2f;

/** An absolute URI as llhttp takes one: a scheme of letters, `://`, and its authority, up to `/`, `?` or `#`. */
const ABSOLUTE_URI = /^[A-Za-z]+:\/\/([^/?#]*)/;

/** `name` is `lower` in any case; called only when the lengths match. */
export const isNamed = (name: string, lower: string): boolean => name === lower || name.toLowerCase() === lower;

/** The answer Node writes for what its parser rejects: a status line and `Connection: close`. */
export const rawAnswer = (status: number): string => `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`;

/** Node's own statuses for what its parser rejects (node:http's socketOnError). */
export function rejectionStatus(code: string | undefined): number {
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
