/**
 * TLS and HTTP/2 with the other features of the request path: the PROXY protocol (its header comes
 * before the TLS handshake), forwarded headers over HTTP/2 (many clients' requests on one
 * connection), the request limits over HTTP/2, and the header timeout against a connection that
 * never begins its handshake. Each feature has its own tests over plain HTTP; these are what
 * changes when the connection is TLS.
 */
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { localhostCertificate } from '../helpers/certificates';
import { ctl, ctlStats } from '../helpers/ctl';
import { waitForLines } from '../helpers/files';
import { APPS, SMALL_REQUEST_LIMITS, serve, type Unicorn } from '../helpers/unicorn';

const PROXIED = path.join(APPS, 'proxied.js');
const PROXIED_FETCH = path.join(APPS, 'proxied-fetch.mjs');
const RECORDER = path.join(APPS, 'recorder.js');
const TRUSTED = '127.0.0.1';
const UNTRUSTED = '127.0.0.2';
const V1 = 'PROXY TCP4 203.0.113.7 10.0.0.1 5678 443\r\n';

const localhost = localhostCertificate('unicorn-tls-combined-');
const { dir, cert: CERT, key: KEY } = localhost;

const TLS = () => ['--certfile', CERT, '--keyfile', KEY];
const portOf = (unicorn: Unicorn) => Number(new URL(unicorn.addresses()[0]!).port);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Client-side connections a test leaves open, closed when it ends. */
const opened: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const thing of opened.splice(0)) thing.destroy();
});

/**
 * A TLS connection to `port` from `from`, with `preamble` (a PROXY header) written on the TCP
 * connection first: in the same packet as the TLS ClientHello (`together`), as a proxy that has the
 * client's first bytes when it connects sends them, or on its own, a moment before the handshake.
 */
function connectTls(
  port: number,
  {
    preamble,
    together = false,
    alpn = ['http/1.1'],
    from = TRUSTED,
  }: { preamble?: string; together?: boolean; alpn?: string[]; from?: string } = {},
): Promise<tls.TLSSocket> {
  return new Promise((resolve) => {
    const raw = net.connect({ port, host: TRUSTED, localAddress: from });
    raw.setNoDelay(true);
    raw.on('error', () => {});
    opened.push(raw);
    let prefix = together ? preamble : undefined;
    // TLS over a stream of our own, so that its first write can carry the preamble in one packet.
    const transport = new Duplex({
      write(chunk: Buffer, _encoding, callback) {
        raw.write(prefix === undefined ? chunk : Buffer.concat([Buffer.from(prefix, 'latin1'), chunk]), callback);
        prefix = undefined;
      },
      read() {},
      final(callback) {
        raw.end();
        callback();
      },
      destroy(err, callback) {
        raw.destroy();
        callback(err);
      },
    });
    raw.on('data', (chunk: Buffer) => transport.push(chunk));
    raw.on('end', () => transport.push(null));
    raw.on('close', () => transport.destroy());
    raw.once('connect', async () => {
      if (preamble !== undefined && !together) {
        raw.write(preamble);
        await sleep(50);
      }
      const socket = tls.connect({ socket: transport, ca: localhost.ca, servername: 'localhost', ALPNProtocols: alpn });
      socket.on('error', () => {});
      opened.push(socket);
      resolve(socket);
    });
  });
}

/** An HTTP/1.1 request with Connection: close on `socket`; the response's body. Rejects when the
 *  server does not answer and close within the bound (a hang, not a slow machine). */
function requestOver(socket: tls.TLSSocket, request: string, boundMs = 8000): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const bound = setTimeout(() => reject(new Error(`no answer within ${boundMs}ms; received ${JSON.stringify(reply)}`)), boundMs);
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    socket.on('close', () => {
      clearTimeout(bound);
      resolve(reply.slice(reply.indexOf('\r\n\r\n') + 4));
    });
    socket.write(request);
  });
}

/** An HTTP/2 session over `socket` (or a new TLS connection to `port` from `from`), closed after the test. */
function session(target: tls.TLSSocket | { port: number; from?: string }): http2.ClientHttp2Session {
  const connect =
    target instanceof tls.TLSSocket
      ? () => target
      : () =>
          tls.connect({
            port: target.port,
            host: TRUSTED,
            ca: localhost.ca,
            servername: 'localhost',
            ALPNProtocols: ['h2'],
            socket: net.connect({ port: target.port, host: TRUSTED, localAddress: target.from ?? TRUSTED }),
          });
  const client = http2.connect(target instanceof tls.TLSSocket ? 'https://localhost' : `https://localhost:${target.port}`, {
    createConnection: connect,
  });
  client.on('error', () => {});
  opened.push(client);
  return client;
}

interface H2Reply {
  status: number;
  body: string;
  /** The stream was reset rather than answered. */
  reset?: string;
}

function h2(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = client.request(headers);
    let status = 0;
    let text = '';
    const bound = setTimeout(() => reject(new Error(`no answer to ${String(headers[':path'])} within 8s`)), 8000);
    stream.setEncoding('utf8');
    stream.on('response', (reply) => (status = Number(reply[':status'])));
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('error', (err: Error) => {
      clearTimeout(bound);
      resolve({ status, body: text, reset: err.message });
    });
    stream.on('close', () => {
      clearTimeout(bound);
      resolve({ status, body: text });
    });
    stream.end(body);
  });
}

const GET = (extra = '') => `GET / HTTP/1.1\r\nHost: app.internal\r\n${extra}Connection: close\r\n\r\n`;

describe.each(['sync', 'async'])('--proxy-protocol with --certfile, -k %s', (workerClass) => {
  let unicorn: Unicorn;
  beforeEach(async () => {
    unicorn = await serve(PROXIED, ['-k', workerClass, '--http2', '--proxy-protocol', ...TLS()]);
  });

  it('serves a TLS client that sends no PROXY header, as itself', async () => {
    const body = await requestOver(await connectTls(portOf(unicorn)), GET());
    expect(JSON.parse(body)).toMatchObject({ remoteAddress: TRUSTED, encrypted: true });
  });

  it.each([
    ['on its own before the handshake', false],
    ['in the packet that starts the handshake', true],
  ])('takes the client from a header sent %s, and judges forwarded headers by it', async (_, together) => {
    const port = portOf(unicorn);
    const body = await requestOver(await connectTls(port, { preamble: V1, together }), GET());
    expect(JSON.parse(body)).toMatchObject({ remoteAddress: '203.0.113.7', remotePort: 5678, encrypted: true });
    // 203.0.113.7 is no trusted proxy: what it says of its own client is ignored.
    const spoofed = await requestOver(await connectTls(port, { preamble: V1, together }), GET('X-Forwarded-For: 6.6.6.6\r\n'));
    expect(JSON.parse(spoofed)).toMatchObject({ remoteAddress: '203.0.113.7' });
  });

  it('takes the client from the header for HTTP/2 too', async () => {
    const client = session(await connectTls(portOf(unicorn), { preamble: V1, alpn: ['h2'] }));
    const reply = await h2(client, { ':path': '/', 'x-forwarded-for': '6.6.6.6' });
    expect(JSON.parse(reply.body)).toMatchObject({ remoteAddress: '203.0.113.7', encrypted: true });
  });
});

describe('forwarded headers over HTTP/2', () => {
  const FORWARDED = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'example.com' };

  it('apply to each request from a trusted peer, as over HTTP/1.1: the app, its socket and the access log', async () => {
    const log = path.join(dir, 'h2-forwarded.log');
    const unicorn = await serve(PROXIED, [
      '-k',
      'async',
      '--http2',
      '--access-logfile',
      log,
      '--access-logformat',
      '%(h)s %(U)s',
      ...TLS(),
    ]);
    const client = session({ port: portOf(unicorn) });
    const reply = await h2(client, { ':path': '/one', ...FORWARDED });
    // The connection is TLS whatever the proxy says of its own.
    expect(JSON.parse(reply.body)).toMatchObject({ remoteAddress: '203.0.113.9', encrypted: true, host: 'example.com' });
    // A request that forwards nothing, on the same connection, sees the proxy itself.
    expect(JSON.parse((await h2(client, { ':path': '/two' })).body)).toMatchObject({ remoteAddress: TRUSTED });
    expect(await waitForLines(log, 2)).toEqual(['203.0.113.9 /one', '127.0.0.1 /two']);

    const untrusted = session({ port: portOf(unicorn), from: UNTRUSTED });
    expect(JSON.parse((await h2(untrusted, { ':path': '/', ...FORWARDED })).body)).toMatchObject({
      remoteAddress: UNTRUSTED,
      host: expect.stringMatching(/^localhost:/),
    });
  });

  it("keep each stream's client apart on one connection, where a proxy sends many clients' requests at once", async () => {
    const unicorn = await serve(PROXIED, ['-k', 'async', '--http2', ...TLS()]);
    const client = session({ port: portOf(unicorn) });
    const clients = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'];
    const replies = await Promise.all(clients.map((address) => h2(client, { ':path': `/${address}`, 'x-forwarded-for': address })));
    expect(replies.map((reply) => (JSON.parse(reply.body) as { remoteAddress: string }).remoteAddress)).toEqual(clients);
  });

  it("make a Fetch handler's URL from the forwarded host", async () => {
    const unicorn = await serve(PROXIED_FETCH, ['-k', 'async', '--http2', ...TLS()]);
    const reply = await h2(session({ port: portOf(unicorn) }), { ':path': '/path?q=1', ...FORWARDED });
    expect(JSON.parse(reply.body)).toEqual({ url: 'https://example.com/path?q=1', remoteAddress: '203.0.113.9' });
  });
});

describe.each(['sync', 'async'])('the request limits over HTTP/2, -k %s', (workerClass) => {
  it('are applied to HTTP/2 requests as to HTTP/1.1 ones, each refusal answered and logged; the others are served', async () => {
    const log = path.join(dir, `h2-limits-${workerClass}.log`);
    const unicorn = await serve(RECORDER, [
      '-k',
      workerClass,
      '--http2',
      ...SMALL_REQUEST_LIMITS,
      '--access-logfile',
      log,
      '--access-logformat',
      '%(s)s %(m)s %(U)s',
      ...TLS(),
    ]);
    const port = portOf(unicorn);
    // A new connection for each: a sync worker closes each after its request.
    const ask = (headers: http2.OutgoingHttpHeaders, body?: string) => h2(session({ port }), headers, body);
    // `GET /… HTTP/1.1` of 100 bytes: the pseudo-headers are not fields, :authority counts as Host.
    const lineOk = `/line-ok-${'a'.repeat(100 - 'GET  HTTP/1.1'.length - '/line-ok-'.length)}`;
    const fieldsOk = { 'x-1': '1', 'x-2': '2', 'x-3': '3', 'x-4': '4' };
    const asked = {
      lineOk: await ask({ ':path': lineOk }),
      lineOver: await ask({ ':path': `${lineOk}a` }),
      fieldsOk: await ask({ ':path': '/fields-ok', ...fieldsOk }),
      fieldsOver: await ask({ ':path': '/fields-over', ...fieldsOk, 'x-5': '5' }),
      fieldOver: await ask({ ':path': '/field-over', 'x-fifty': 'v'.repeat(50) }),
      bodyOk: await ask({ ':method': 'POST', ':path': '/body-ok', 'content-length': '1024' }, 'b'.repeat(1024)),
      bodyOver: await ask({ ':method': 'POST', ':path': '/body-over', 'content-length': '1025' }, 'b'.repeat(1025)),
      // No content-length: counted as it comes.
      streamedOver: await ask({ ':method': 'POST', ':path': '/streamed-over' }, 'c'.repeat(2000)),
    };
    expect(Object.fromEntries(Object.entries(asked).map(([name, reply]) => [name, reply.status]))).toEqual({
      lineOk: 200,
      lineOver: 414,
      fieldsOk: 200,
      fieldsOver: 431,
      fieldOver: 431,
      bodyOk: 200,
      bodyOver: 413,
      streamedOver: 413,
    });
    expect(asked.lineOver.body).toBe('URI Too Long: the request line is 101 bytes; at most 100 are accepted\n');
    expect(asked.bodyOk.body).toMatch(/^POST \/body-ok 1024 bytes/);

    const seen = (JSON.parse((await ask({ ':path': '/seen' })).body) as { seen: string[] }).seen;
    // The streamed body came in frames after the head: the app may have had that request when its
    // body passed the limit (as over HTTP/1.1), and saw its body end as if the client had left.
    expect(seen.filter((request) => request !== 'POST /streamed-over')).toEqual([`GET ${lineOk}`, 'GET /fields-ok', 'POST /body-ok']);
    const lines = await waitForLines(log, 9);
    expect(lines.map((line) => line.split(' ')[0]).sort()).toEqual(['200', '200', '200', '200', '413', '413', '414', '431', '431']);
  });
});

describe('an HTTP/2 client that ends its side of the connection', () => {
  it('has the connection closed, and its request logged, even with a stream still waiting for its body', async () => {
    const log = path.join(dir, 'h2-half-closed.log');
    const unicorn = await serve(RECORDER, [
      '-k',
      'async',
      '--http2',
      '--access-logfile',
      log,
      '--access-logformat',
      '%(s)s %(U)s',
      ...TLS(),
    ]);
    const socket = await connectTls(portOf(unicorn), { alpn: ['h2'] });
    const client = session(socket);
    // The recorder answers once the body has ended: this one never ends.
    const stream = client.request({ ':method': 'POST', ':path': '/unfinished' });
    stream.on('error', () => {});
    stream.write('part of a body');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.end();
    // Half-open, the server kept it (and the worker's connection count) for good.
    await Promise.race([
      closed,
      sleep(8000).then(() => Promise.reject(new Error('the server kept the connection open after the client ended its side'))),
    ]);
    expect(await waitForLines(log, 1)).toEqual(['499 /unfinished']);
  });
});

describe('the listeners with --certfile', () => {
  it('are https:// for `unicorn ctl` and hooks (stats) as in the log', async () => {
    const socket = path.join(dir, 'ctl.sock');
    const unicorn = await serve(PROXIED, ['-b', `unix:${path.join(dir, 'app.sock')}`, '--control-socket', socket, ...TLS()]);
    const logged = unicorn.addresses();
    expect(logged).toEqual([expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/), `unix:${path.join(dir, 'app.sock')}`]);
    expect((await ctlStats(socket)).listeners).toEqual(logged);
    const status = await ctl(['--socket', socket, 'status']);
    expect(status.stdout).toContain(`Listening at: ${logged.join(', ')}\n`);
  });
});

describe('--header-timeout with --certfile', () => {
  it.each([[[]], [['--http2']]])(
    'closes a connection that never begins its TLS handshake (%j)',
    async (extra) => {
      const unicorn = await serve(PROXIED, ['-k', 'async', '--header-timeout', '1s', ...extra, ...TLS()]);
      const socket = net.connect(portOf(unicorn), TRUSTED);
      opened.push(socket);
      socket.on('error', () => {});
      const began = performance.now();
      await new Promise((resolve) => socket.once('close', resolve));
      // Node's own handshake timeout is 120 s; the bound leaves room for a loaded machine.
      expect(performance.now() - began).toBeLessThan(8000);
    },
    15_000,
  );
});
