/**
 * Raw HTTP/1.1 over a net.Socket, for the requests no client library would send: malformed, over a
 * limit, pipelined, or trickled. Every socket opened here is closed when its exchange ends, and any
 * still open after a test (a slow client) is closed then (`closeAll`, from ./cleanup.ts).
 */
import net from 'node:net';

const open = new Set<net.Socket>();

/** Connect to the TCP address of `url`; the socket is closed after the test if still open. */
export function connect(url: string): net.Socket {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  open.add(socket);
  socket.once('close', () => open.delete(socket));
  return socket;
}

export function closeAll(): void {
  for (const socket of open) socket.destroy();
  open.clear();
}

export interface Exchange {
  /** Everything that came back, as latin1 (byte for byte). */
  reply: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
  /** It closed with an error (a reset) rather than an orderly end. */
  reset: boolean;
  /** Milliseconds from sending to the close, or to the end of the wait. */
  ms: number;
}

/** What to send: bytes, or bytes in parts with waits between them (a function is awaited, then the
 *  next part is sent). */
export type Sending = string | Buffer | Array<string | Buffer | (() => Promise<unknown>)>;

/**
 * Send `bytes` and collect what comes back until the server closes the connection, or until
 * `waitMs` have passed (a bound for hangs, or how long to watch a connection kept open); the socket
 * is closed either way. A connection reset counts as closed: what arrived before it is kept.
 * `halfClose`: end the sending side once everything is sent, as a client with no more to say does.
 */
export function exchange(url: string, bytes: Sending, waitMs = 10_000, { halfClose = false } = {}): Promise<Exchange> {
  const started = performance.now();
  const socket = connect(url);
  return new Promise((resolve, reject) => {
    let reply = '';
    const done = (closed: boolean, reset = false) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, closed, reset, ms: performance.now() - started });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('error', () => done(true, true));
    socket.on('close', () => done(true));
    // A wait that fails fails the exchange.
    sendParts(socket, Array.isArray(bytes) ? bytes : [bytes]).then(
      () => halfClose && !socket.destroyed && socket.end(),
      (err: unknown) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err as Error);
      },
    );
  });
}

async function sendParts(socket: net.Socket, parts: Exclude<Sending, string | Buffer>): Promise<void> {
  for (const part of parts) {
    if (socket.destroyed) return;
    if (typeof part === 'function') await part();
    else if (part.length > 0) socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
  }
}

export interface RawResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

/** The responses in a reply, in order: a body by its Content-Length, else up to the close (an
 *  HTTP/1.0 response: RFC 9112, 6.3), but for a status that has none. Not for HEAD or chunked. */
export function responses(reply: string): RawResponse[] {
  const found: RawResponse[] = [];
  let rest = reply;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    const status = Number(statusLine!.split(' ')[1]);
    const bodyless = status < 200 || status === 204 || status === 304;
    const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : bodyless ? 0 : rest.length - end - 4;
    found.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return found;
}

/** What the recorder app (test/fixtures/apps/recorder.js) has been handed, and its pid; asked with
 *  only a Host header, so that the smallest limits let the question through. */
export async function seenByApp(url: string): Promise<{ pid: number; seen: string[] }> {
  const { reply } = await exchange(url, 'GET /seen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [response] = responses(reply);
  if (response?.status !== 200) throw new Error(`GET /seen was answered:\n${reply}`);
  return JSON.parse(response.body) as { pid: number; seen: string[] };
}
