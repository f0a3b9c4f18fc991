/**
 * The PROXY protocol (HAProxy's, as HAProxy, AWS and GCP load balancers, stunnel and nginx's
 * `proxy_protocol on` send it): a header where a connection starts that names the client the proxy
 * accepted the connection from. Version 1 is a text line (`PROXY TCP4 203.0.113.7 10.0.0.1 5678
 * 443\r\n`), version 2 a binary block with a 12-byte signature. With `--proxy-protocol` the worker
 * reads it before Node's HTTP parser sees a byte (`readProxyHeader`); without, nothing here runs.
 *
 * The specification: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
import { isIPv4, isIPv6, type Socket, SocketAddress } from 'node:net';
import type { Logger } from '../shared/log';
import { type PeerTest, peerOf } from '../shared/trusted-peers';

/** The client a header names: what the socket's remoteAddress, remotePort and remoteFamily become. */
export interface ProxiedAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** What the bytes a connection has sent so far are. */
export type ProxyHeader =
  /** They may still become a header: wait for more. */
  | { kind: 'partial' }
  /** Not a PROXY header: the connection speaks HTTP from its first byte. */
  | { kind: 'none' }
  | { kind: 'malformed'; problem: string }
  /** A whole header of `length` bytes; `source` is undefined where it names no IP client (v1
   *  UNKNOWN, v2 LOCAL, an unspecified or unix-socket source), and the socket's own peer stands. */
  | { kind: 'header'; version: 1 | 2; length: number; source: ProxiedAddress | undefined };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line, CRLF included ("PROXY TCP6" with two full IPv6 addresses and ports). */
const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version and command, family and transport, and the length of what follows. */
const V2_FIXED_LENGTH = 16;
const V2_COMMAND_LOCAL = 0x0;
const V2_COMMAND_PROXY = 0x1;
const V2_FAMILY_UNSPEC = 0x0;
const V2_FAMILY_INET = 0x1;
const V2_FAMILY_INET6 = 0x2;
const V2_FAMILY_UNIX = 0x3;
const V2_TRANSPORT_STREAM = 0x1;
/** Address block sizes by family: source and destination addresses, then (IP only) both ports. */
const V2_ADDRESS_LENGTH: Record<number, number> = { [V2_FAMILY_INET]: 12, [V2_FAMILY_INET6]: 36, [V2_FAMILY_UNIX]: 216 };
/** A decimal port as v1 writes it: no sign, no leading zero. */
const V1_PORT = /^(?:0|[1-9]\d{0,4})$/;

/**
 * Which version's signature `bytes` start with: 'partial' while they are a prefix of one, 'none'
 * once they are not (an HTTP request line is told apart within its first five bytes: "PROP…" is
 * WebDAV's PROPFIND, "PROXY " a header).
 */
export function proxySignature(bytes: Buffer): 1 | 2 | 'partial' | 'none' {
  for (const [version, signature] of [
    [1, V1_PREFIX],
    [2, V2_SIGNATURE],
  ] as const) {
    const n = Math.min(bytes.length, signature.length);
    if (bytes.compare(signature, 0, n, 0, n) === 0) return n === signature.length ? version : 'partial';
  }
  return 'none';
}

/** Parse the header `bytes` start with, if they do. TLVs after v2's addresses are skipped. */
export function parseProxyHeader(bytes: Buffer): ProxyHeader {
  const signature = proxySignature(bytes);
  if (signature === 'partial' || signature === 'none') return { kind: signature };
  return signature === 1 ? parseV1(bytes) : parseV2(bytes);
}

/** What the bytes are once a signature is known. */
type AfterSignature = Exclude<ProxyHeader, { kind: 'none' }>;

function parseV1(bytes: Buffer): AfterSignature {
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n');
  if (end === -1) {
    return bytes.length >= V1_MAX_LENGTH
      ? malformed(`no CRLF within the ${V1_MAX_LENGTH} bytes a v1 header may take`)
      : { kind: 'partial' };
  }
  const line = bytes.toString('latin1', 0, end);
  const fields = line.split(' ');
  const length = end + 2;
  const protocol = fields[1];
  // UNKNOWN: the proxy could not say (not TCP over IP); whatever follows on the line is ignored.
  if (protocol === 'UNKNOWN') return { kind: 'header', version: 1, length, source: undefined };
  if (protocol !== 'TCP4' && protocol !== 'TCP6')
    return malformed(`v1 protocol ${JSON.stringify(protocol ?? '')} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return malformed(`a v1 ${protocol} line has 6 fields, not ${fields.length}: ${JSON.stringify(line)}`);
  const [, , source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  const isAddress = protocol === 'TCP4' ? isIPv4 : isIPv6;
  for (const address of [source, destination]) {
    if (!isAddress(address)) return malformed(`${JSON.stringify(address)} is not an ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'} address`);
  }
  for (const port of [sourcePort, destinationPort]) {
    if (!V1_PORT.test(port) || Number(port) > 65535) return malformed(`${JSON.stringify(port)} is not a port number`);
  }
  return {
    kind: 'header',
    version: 1,
    length,
    source: { address: source, port: Number(sourcePort), family: protocol === 'TCP4' ? 'IPv4' : 'IPv6' },
  };
}

function parseV2(bytes: Buffer): AfterSignature {
  if (bytes.length < V2_FIXED_LENGTH) return { kind: 'partial' };
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  const length = V2_FIXED_LENGTH + bytes.readUInt16BE(14);
  if (version !== 2) return malformed(`version ${version} after the v2 signature (2 expected)`);
  if (command !== V2_COMMAND_LOCAL && command !== V2_COMMAND_PROXY) return malformed(`v2 command ${command} is not LOCAL (0) or PROXY (1)`);
  // Known to be malformed before the rest arrives: a peer cannot hold the connection on a promise.
  const addressLength = V2_ADDRESS_LENGTH[family];
  if (command === V2_COMMAND_PROXY) {
    if (family !== V2_FAMILY_UNSPEC && addressLength === undefined)
      return malformed(`v2 address family ${family} is not UNSPEC, INET, INET6 or UNIX`);
    if (family !== V2_FAMILY_UNSPEC && transport !== V2_TRANSPORT_STREAM)
      return malformed(`v2 transport ${transport} is not STREAM: an HTTP connection is a stream`);
    if (addressLength !== undefined && length - V2_FIXED_LENGTH < addressLength) {
      return malformed(`a v2 header of family ${family} holds ${addressLength} bytes of addresses, not ${length - V2_FIXED_LENGTH}`);
    }
  }
  if (bytes.length < length) return { kind: 'partial' };
  // LOCAL: the proxy's own connection (a health check); its addresses, if any, are to be ignored.
  if (command === V2_COMMAND_LOCAL) return { kind: 'header', version: 2, length, source: undefined };
  const at = V2_FIXED_LENGTH;
  switch (family) {
    case V2_FAMILY_INET:
      return {
        kind: 'header',
        version: 2,
        length,
        source: { address: bytes.subarray(at, at + 4).join('.'), port: bytes.readUInt16BE(at + 8), family: 'IPv4' },
      };
    case V2_FAMILY_INET6:
      return {
        kind: 'header',
        version: 2,
        length,
        source: { address: formatIPv6(bytes.subarray(at, at + 16)), port: bytes.readUInt16BE(at + 32), family: 'IPv6' },
      };
    default:
      // UNSPEC, or a client on a unix socket at the proxy: no IP address to give.
      return { kind: 'header', version: 2, length, source: undefined };
  }
}

const malformed = (problem: string): AfterSignature => ({ kind: 'malformed', problem });

/**
 * Sixteen bytes as Node shows a peer's IPv6 address (libuv's inet_ntop, through SocketAddress): the
 * shortest form, `::ffff:192.0.2.1` for an IPv4-mapped one — a proxied client reads as a direct one.
 */
export function formatIPv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

export interface ProxyProtocolOptions {
  /** Peers a header is accepted from (--proxy-allow-from), and the list as the setting gives it. */
  trusted: PeerTest;
  allowFrom: string;
  /** Milliseconds a connection has to send its header, or its first bytes. */
  timeoutMs: number;
  log: Logger;
}

/** Node's cache of a socket's peer address, which its remoteAddress, remotePort and remoteFamily
 *  getters read: set, it makes the proxied client the peer everywhere, for the connection's life. */
type PeerSocket = Socket & { _peername?: { address: string; port: number; family: string } };

/**
 * Read what a new connection sends first, before Node's HTTP parser sees it, and hand the socket
 * to `serve` with the rest put back:
 *
 * - a PROXY header from a trusted peer is taken off the stream and its client becomes the socket's
 *   peer (`remoteAddress`, `remotePort`, `remoteFamily`), for the app and the access log alike;
 * - bytes that are not a PROXY header go to the parser untouched: a peer may speak plain HTTP (a
 *   load balancer's own health check often does), and is then served as itself, as in Gunicorn;
 * - a header from a peer not trusted, a malformed one, or a connection that sends neither within
 *   the timeout is closed, with nothing written.
 *
 * The header may arrive in pieces; it is parsed again as each arrives (it is at most 107 bytes in
 * v1, and in practice a few dozen in v2).
 *
 * `serve` gets the socket paused, with what came after the header back in its buffer. node:http's
 * server reads that once the socket is resumed (before anything newer: it reads the handle only
 * after the buffer). A TLS server must get it paused: it takes the buffered bytes at once (a TLS
 * client's first flight, which may share a packet with the header) and reads the handle itself;
 * resumed, the TCP socket would read from under it and the handshake would never complete.
 */
export function readProxyHeader(socket: Socket, options: ProxyProtocolOptions, serve: (socket: Socket) => void): void {
  const peer = peerOf(socket);
  const trusted = options.trusted(peer);
  let received: Buffer | undefined;

  const stop = () => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', stop);
  };
  const refuse = (kind: Refusal, reason: string) => {
    stop();
    socket.destroy();
    report(options.log, kind, peer, reason);
  };
  const handOver = (rest: Buffer) => {
    stop();
    // Paused, the rest waits in the socket's buffer while the server sets the socket up: `serve`
    // resumes it, or leaves it paused for a server that takes the buffer itself (see below).
    socket.pause();
    if (rest.length > 0) socket.unshift(rest);
    serve(socket);
  };
  const onData = (chunk: Buffer) => {
    received = received === undefined ? chunk : Buffer.concat([received, chunk]);
    const signature = proxySignature(received);
    if (signature === 'partial') return;
    if (signature === 'none') return handOver(received);
    if (!trusted) return refuse('untrusted', `a PROXY header from a peer not in --proxy-allow-from (${options.allowFrom})`);
    const header = signature === 1 ? parseV1(received) : parseV2(received);
    if (header.kind === 'partial') return;
    if (header.kind === 'malformed') return refuse('malformed', `a malformed PROXY header: ${header.problem}`);
    if (header.source) (socket as PeerSocket)._peername = header.source;
    handOver(received.subarray(header.length));
  };
  // The peer finished sending, or failed, before its header was whole: nothing to serve.
  const onEnd = () => {
    stop();
    socket.destroy();
  };
  const onError = () => onEnd();
  const timer = setTimeout(
    () =>
      received
        ? refuse(
            'incomplete',
            `its PROXY header was not complete within --proxy-protocol-timeout (${options.timeoutMs}ms): ${received.length} bytes`,
          )
        : refuse('silent', `it sent nothing within --proxy-protocol-timeout (${options.timeoutMs}ms)`),
    options.timeoutMs,
  );
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  // Closed under the reader (the worker stopping, say): nothing left to time out.
  socket.on('close', stop);
}

/** Lines about refused connections, at most one of each kind every REFUSAL_REPORT_MS: a flood of
 *  bad headers must not become a flood of log lines. The next line counts those left out. */
const REFUSAL_REPORT_MS = 10_000;

type Refusal = 'untrusted' | 'malformed' | 'incomplete' | 'silent';

const lastReports = new Map<Refusal, { at: number; unreported: number }>();

function report(log: Logger, kind: Refusal, peer: string | undefined | null, reason: string): void {
  const from = peer === undefined ? 'a unix socket' : (peer ?? 'a peer already gone');
  // A connection that says nothing in time is as likely a browser's preconnect as a fault.
  if (kind === 'silent') {
    log.debug({ peer }, `Closed a connection from ${from}: ${reason}`);
    return;
  }
  const now = performance.now();
  const last = lastReports.get(kind);
  if (last && now - last.at < REFUSAL_REPORT_MS) {
    last.unreported++;
    return;
  }
  const unreported = last?.unreported ?? 0;
  const also = unreported > 0 ? ` (and ${unreported} more such since the last line)` : '';
  log.warn({ peer, unreported }, `Closed a connection from ${from}: ${reason}${also}`);
  lastReports.set(kind, { at: now, unreported: 0 });
}
