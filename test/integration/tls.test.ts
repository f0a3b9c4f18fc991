import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { TestCertificates } from '../helpers/certificates';
import { APPS, runToExit, serve, type Unicorn } from '../helpers/unicorn';

const TLS_INFO = path.join(APPS, 'tls-info.js');
const URL_ECHO = path.join(APPS, 'url-echo.mjs');
const ROUTES = path.join(APPS, 'routes.js');

/** Certificates made for this run (no private key is committed): a CA, two server certificates
 *  it signed, a client certificate it signed, and a self-signed client certificate. */
const certificates = new TestCertificates('unicorn-tls-');
const { dir } = certificates;
const file = (name: string) => certificates.file(name);
const pem = (name: string) => certificates.pem(name);
const fingerprint = (name: string) => new X509Certificate(readFileSync(file(name))).fingerprint256;

beforeAll(() => {
  certificates.authority();
  certificates.signed('server-a', 'localhost', 1);
  certificates.signed('server-b', 'localhost', 2);
  certificates.signed('client', 'test client', 3);
  certificates.selfSigned('stranger', 'stranger');
});

afterAll(() => certificates.remove());

const tlsArgs = (name = 'server-a') => ['--certfile', file(`${name}.pem`), '--keyfile', file(`${name}.key`)];

/** The first listener, as the arbiter logs it. */
function baseUrl(unicorn: Unicorn): string {
  const url = unicorn.addresses()[0];
  if (!url) throw new Error(`no listener in:\n${unicorn.stderr}`);
  return url;
}

interface TlsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The server certificate's SHA-256 fingerprint. */
  fingerprint: string;
  alpn: string | false | null;
  /** The agent sent it on a connection kept alive from an earlier request. */
  reused: boolean;
}

/** An HTTPS request (HTTP/1.1) that trusts the test CA; a new connection unless an agent is given. */
function get(url: string, options: https.RequestOptions = {}): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca: pem('ca.pem'), agent: false, timeout: 10_000, ...options }, (res) => {
      const socket = res.socket as TLSSocket;
      const seen = { fingerprint: socket.getPeerCertificate().fingerprint256, alpn: socket.alpnProtocol, reused: req.reusedSocket };
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ...seen }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const sessions: http2.ClientHttp2Session[] = [];
/** Client-side things a test leaves open, closed when it ends. */
const afterCleanup: Array<() => void> = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.destroy();
  for (const close of afterCleanup.splice(0)) close();
});

/** An HTTP/2 session that trusts the test CA (closed after each test). */
function connectH2(url: string): http2.ClientHttp2Session {
  const session = http2.connect(url, { ca: pem('ca.pem') });
  session.on('error', () => {}); // a test that expects one reads it from its request
  sessions.push(session);
  return session;
}

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
  onResponse?: () => void,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let reply: http2.IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      reply = h;
      onResponse?.();
    });
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status: Number(reply[':status']), headers: reply, body: text }));
    stream.on('error', reject);
    stream.end(body);
  });
}

describe('HTTPS', () => {
  it.each(['sync', 'async'])('serves HTTPS with the %s worker class, keep-alive as over plain HTTP', async (workerClass) => {
    const unicorn = await serve(TLS_INFO, ['-k', workerClass, ...tlsArgs()]);
    const url = baseUrl(unicorn);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(`${url}/one`, { agent });
      const second = await get(`${url}/two`, { agent });
      expect(first.status).toBe(200);
      expect(JSON.parse(first.body)).toMatchObject({ httpVersion: '1.1', url: '/one', encrypted: true, host: new URL(url).host });
      expect(first.fingerprint).toBe(fingerprint('server-a.pem'));
      if (workerClass === 'sync') {
        // The app's Connection: keep-alive is overruled, as over plain HTTP: a new connection each time.
        expect(first.headers.connection).toBe('close');
        expect(second.reused).toBe(false);
      } else {
        expect(first.headers.connection).toBe('keep-alive');
        expect(second.reused).toBe(true);
      }
    } finally {
      agent.destroy();
    }
  });

  it('a sync worker awaiting I/O over TLS takes no new connection: the other worker serves them', async () => {
    const unicorn = await serve(ROUTES, tlsArgs(), { workers: 2 });
    const url = baseUrl(unicorn);
    let heldDone = false;
    const handling = new Promise<void>((resolve, reject) => {
      const held = https.get(`${url}/hold?ms=10000`, { ca: pem('ca.pem'), agent: false }, (res) => {
        resolve();
        res.resume().on('end', () => (heldDone = true));
      });
      held.on('error', reject);
      afterCleanup.push(() => held.destroy());
    });
    await handling;
    const others = [];
    for (let i = 0; i < 10; i++) others.push(await get(`${url}/`));
    // Had the holding worker taken any of them, that one would have waited for the held request.
    expect(heldDone).toBe(false);
    expect(others.map((reply) => reply.body)).toEqual(Array(10).fill(expect.stringMatching(/^hello \d+/)));
  });

  it('a graceful stop closes an idle HTTPS keep-alive connection at once', async () => {
    const unicorn = await serve(TLS_INFO, ['-k', 'async', '--keep-alive', '60s', '--graceful-timeout', '60s', ...tlsArgs()]);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = await get(`${baseUrl(unicorn)}/`, { agent });
      expect(reply.headers.connection).toBe('keep-alive');
      const began = Date.now();
      unicorn.signal('SIGTERM');
      expect(await unicorn.exited).toEqual({ code: 0, signal: null });
      // Not the 60 s keep-alive: the worker saw the idle connection through its TLS socket.
      expect(Date.now() - began).toBeLessThan(15_000);
    } finally {
      agent.destroy();
    }
  });
});

describe('client certificates', () => {
  const clientCert = (name: string) => ({ cert: pem(`${name}.pem`), key: pem(`${name}.key`) });

  it('--cert-reqs required: refused without a certificate or with one --ca-certs did not sign', async () => {
    const unicorn = await serve(TLS_INFO, [...tlsArgs(), '--ca-certs', file('ca.pem'), '--cert-reqs', 'required']);
    const url = `${baseUrl(unicorn)}/`;
    await expect(get(url)).rejects.toThrow(/certificate required|ECONNRESET|EPIPE|socket hang up/);
    await expect(get(url, clientCert('stranger'))).rejects.toThrow(/unknown ca|bad certificate|ECONNRESET|EPIPE|socket hang up/);
    const signed = await get(url, clientCert('client'));
    expect(JSON.parse(signed.body)).toMatchObject({ authorized: true, peer: 'test client' });
  });

  it("--cert-reqs 1 (Gunicorn's optional): a client may send none, but one it sends must verify", async () => {
    const unicorn = await serve(TLS_INFO, [...tlsArgs(), '--ca-certs', file('ca.pem'), '--cert-reqs', '1']);
    const url = `${baseUrl(unicorn)}/`;
    expect(JSON.parse((await get(url)).body)).toMatchObject({ authorized: false, peer: null });
    expect(JSON.parse((await get(url, clientCert('client'))).body)).toMatchObject({ authorized: true, peer: 'test client' });
    await expect(get(url, clientCert('stranger'))).rejects.toThrow(/ECONNRESET|EPIPE|socket hang up/);
  });
});

describe('certificates on HUP', () => {
  it('new workers serve the files as they are at the HUP; a broken file is refused and the certificate in use stays', async () => {
    copyFileSync(file('server-a.pem'), file('live.pem'));
    copyFileSync(file('server-a.key'), file('live.key'));
    const unicorn = await serve(TLS_INFO, tlsArgs('live'));
    const url = `${baseUrl(unicorn)}/`;
    expect((await get(url)).fingerprint).toBe(fingerprint('server-a.pem'));

    copyFileSync(file('server-b.pem'), file('live.pem'));
    copyFileSync(file('server-b.key'), file('live.key'));
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    expect((await get(url)).fingerprint).toBe(fingerprint('server-b.pem'));

    writeFileSync(file('live.pem'), 'not a certificate\n');
    unicorn.signal('SIGHUP');
    const refused = await unicorn.waitForLog((l) => l.msg.startsWith('Reload refused'), 'the refused reload');
    expect(refused.msg).toMatch(/--certfile ".*live\.pem" is not accepted: it holds no PEM certificate/);
    const kept = await get(url);
    expect(kept.fingerprint).toBe(fingerprint('server-b.pem'));

    // A worker that dies is replaced with the certificate the arbiter read, not the broken file.
    const worker = JSON.parse(kept.body).pid as number;
    process.kill(worker, 'SIGKILL');
    await unicorn.ready(3);
    const reply = await get(url);
    expect(JSON.parse(reply.body).pid).not.toBe(worker);
    expect(reply.fingerprint).toBe(fingerprint('server-b.pem'));
  });
});

describe('refusals at start', () => {
  it.each([
    [
      'a key that is not the certificate',
      () => ['--certfile', file('server-a.pem'), '--keyfile', file('server-b.key')],
      /--keyfile ".*server-b\.key" is not accepted: its private key is not the one of the certificate in --certfile ".*server-a\.pem" \(CN=localhost\)/,
    ],
    [
      'a certificate file that holds none',
      () => ['--certfile', file('server-a.key'), '--keyfile', file('server-a.key')],
      /--certfile ".*server-a\.key" is not accepted: it holds no PEM certificate/,
    ],
    [
      'a certificate without its key',
      () => ['--certfile', file('server-a.pem')],
      /--certfile ".*server-a\.pem" holds no private key, and no --keyfile is given/,
    ],
    [
      'a missing key file',
      () => ['--certfile', file('server-a.pem'), '--keyfile', 'nowhere.key'],
      /--keyfile "nowhere\.key" is not accepted: expected an existing file \(no such file: .*nowhere\.key\)/,
    ],
    ['--cert-reqs required without --ca-certs', () => [...tlsArgs(), '--cert-reqs', 'required'], /--cert-reqs "required" needs --ca-certs/],
    [
      '--http2 without TLS',
      () => ['--http2'],
      /--http2 needs TLS: give --certfile and --keyfile as well \(.*cleartext HTTP\/2, h2c, is not served\)/,
    ],
  ])('%s: exit 2 before anything is bound', async (_, args, message) => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', ...args(), TLS_INFO], { cwd: dir });
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`^unicorn: error: ${message.source}`, 'm'));
    expect(stderr).not.toContain('Listening at');
  });
});

describe('HTTP/2', () => {
  it('refuses an Express app with --http2 when it loads (exit 4), rather than crash on every HTTP/2 request', async () => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '--http2', ...tlsArgs(), `${path.join(APPS, 'express-app.js')}:app`]);
    expect(code).toBe(4);
    expect(stderr).toMatch(/cannot load the app .*express-app\.js:app\\": it is an Express app, which does not work over HTTP\/2/);
  });

  it('--http2: ALPN h2 for a client that offers it, HTTP/1.1 for one that does not, on one port; both logged', async () => {
    const unicorn = await serve(TLS_INFO, ['-k', 'async', '--http2', '--access-logfile', '-', ...tlsArgs()]);
    const url = baseUrl(unicorn);
    const session = connectH2(url);
    // Two streams at once on one connection.
    const [a, b] = await Promise.all([h2Request(session, { ':path': '/a' }), h2Request(session, { ':path': '/b?x=1' })]);
    expect(session.alpnProtocol).toBe('h2');
    expect(JSON.parse(a.body)).toMatchObject({ httpVersion: '2.0', url: '/a', encrypted: true, host: new URL(url).host });
    expect(JSON.parse(b.body)).toMatchObject({ httpVersion: '2.0', url: '/b?x=1' });
    // The app's Connection header has no place in HTTP/2: dropped, without a warning.
    expect(a.headers.connection).toBeUndefined();

    const h1 = await get(`${url}/c`, { ALPNProtocols: ['http/1.1'] } as https.RequestOptions);
    expect(h1.alpn).toBe('http/1.1');
    expect(JSON.parse(h1.body)).toMatchObject({ httpVersion: '1.1', url: '/c' });

    await unicorn.waitForOutput('"GET /c HTTP/1.1"');
    expect(unicorn.stdout).toContain(`"GET /a HTTP/2.0" 200 ${Buffer.byteLength(a.body)} `);
    expect(unicorn.stdout).toContain(`"GET /b?x=1 HTTP/2.0" 200 ${Buffer.byteLength(b.body)} `);
    expect(unicorn.stderr).not.toMatch(/Warning/);
  });

  it('--http2: CONNECT is answered 501 and logged, over HTTP/2 and over HTTP/1.1', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--http2', '--access-logfile', '-', ...tlsArgs()]);
    const url = baseUrl(unicorn);
    const h2 = await h2Request(connectH2(url), { ':method': 'CONNECT', ':authority': 'a.example:443' });
    expect(h2.status).toBe(501);
    const socket = tls.connect({
      host: '127.0.0.1',
      port: Number(new URL(url).port),
      ca: pem('ca.pem'),
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    afterCleanup.push(() => socket.destroy());
    socket.end('CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n');
    let h1 = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (h1 += chunk));
    await once(socket, 'close');
    expect(h1).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    await unicorn.waitForOutput('"CONNECT a.example:443 HTTP/1.1" 501');
    expect(unicorn.stdout).toContain('"CONNECT a.example:443 HTTP/2.0" 501');
  });

  it('the sync worker closes each HTTP/2 connection after its request (GOAWAY), as it closes HTTP/1.1 ones', async () => {
    const unicorn = await serve(TLS_INFO, ['--http2', ...tlsArgs()]);
    const session = connectH2(baseUrl(unicorn));
    const goaway = new Promise<number>((resolve) => session.once('goaway', (_code: number, lastStreamID: number) => resolve(lastStreamID)));
    const reply = await h2Request(session, { ':path': '/only' });
    expect(JSON.parse(reply.body)).toMatchObject({ httpVersion: '2.0', url: '/only' });
    expect(await goaway).toBe(1);
    await new Promise((resolve) => session.once('close', resolve));
  });

  it('a Fetch handler gets an https URL with the :authority host, and the body, over HTTP/2 and HTTP/1.1', async () => {
    const unicorn = await serve(URL_ECHO, ['-k', 'async', '--http2', ...tlsArgs()]);
    const url = baseUrl(unicorn);
    const authority = `localhost:${new URL(url).port}`;
    const session = connectH2(url.replace('127.0.0.1', 'localhost'));
    // The client says http; the connection is TLS, and the URL says so.
    const got = await h2Request(session, { ':path': '/path?q=1', ':scheme': 'http' });
    expect(JSON.parse(got.body)).toMatchObject({ url: `https://${authority}/path?q=1`, host: authority, method: 'GET' });
    const posted = await h2Request(session, { ':method': 'POST', ':path': '/echo' }, 'ping');
    expect(JSON.parse(posted.body)).toMatchObject({ url: `https://${authority}/echo`, method: 'POST', body: 'ping' });
    const h1 = await get(`${url}/h1`);
    expect(JSON.parse(h1.body)).toMatchObject({ url: `${url}/h1`, host: new URL(url).host });
  });

  it('an HTTP/2 response the client cancels is logged as aborted; one it reads to the end is not', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--http2', '--access-logfile', '-', '--access-logformat', 'json', ...tlsArgs()]);
    const session = connectH2(baseUrl(unicorn));
    const cancelled = session.request({ ':path': '/hold?ms=20000' });
    cancelled.on('error', () => {});
    await once(cancelled, 'response');
    cancelled.close(http2.constants.NGHTTP2_CANCEL);
    await unicorn.waitForOutput('"url":"/hold?ms=20000"');
    await h2Request(session, { ':path': '/done' });
    await unicorn.waitForOutput('"url":"/done"');
    const lines = unicorn.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ url: '/hold?ms=20000', protocol: 'HTTP/2.0', status: 200, aborted: true }),
      expect.objectContaining({ url: '/done', protocol: 'HTTP/2.0', status: 200, aborted: false }),
    ]);
  });

  it('a graceful stop lets an HTTP/2 request in flight finish, and tells the client GOAWAY', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--http2', ...tlsArgs()]);
    const session = connectH2(baseUrl(unicorn));
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    let handling!: () => void;
    const started = new Promise<void>((resolve) => (handling = resolve));
    const reply = h2Request(session, { ':path': '/hold?ms=800' }, undefined, handling);
    await started;
    unicorn.signal('SIGTERM');
    await goaway;
    expect(await reply).toMatchObject({ status: 200, body: expect.stringMatching(/^held \d+/) });
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
  });
});
