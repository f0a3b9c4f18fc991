/**
 * Several apps behind one server (--mount, issue 17), with the real frameworks side by side
 * (test/fixtures/apps/mounts/): what each sees of its path and its mount, where its redirects land,
 * which prefix wins, and the guarantees that must hold through a mount (body limit, keep-alive,
 * access-log bytes) with Express, which replaces the request's and response's prototypes.
 *
 * A server is shared by many tests: its probes run in `beforeAll`, each keeping its outcome, and
 * each test checks what its probe found (the helpers kill every server after each test).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { TestCertificates } from '../helpers/certificates';
import { readLines } from '../helpers/files';
import { type Reply, request } from '../helpers/http';
import { Load } from '../helpers/load';
import { type Exchange, exchange, responses } from '../helpers/raw';
import { APPS, runToExit, serve, start, type Unicorn } from '../helpers/unicorn';

const MOUNTS = path.join(APPS, 'mounts');
const LIMIT = 4096;
const ACCESS_FORMAT = '%(m)s %(U)s %(s)s %(b)s %(B)s';
/** Every shape under a prefix of its own, two of them nested (/api and /api/v2). */
const SIDE_BY_SIDE = [
  ['/api', 'express.js:app'],
  ['/api/v2', 'node.js'],
  ['/koa', 'koa.mjs'],
  ['/fastify', 'fastify.js'],
  ['/edge', 'fetch.mjs'],
  ['/hono', 'hono.mjs'],
  ['/ws', 'upgrade.js:server'],
].flatMap(([prefix, app]) => ['--mount', `${prefix}=${app}`]);

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'unicorn-mounts-'));

/** A probe's outcome, kept for its test: one probe that fails fails its own test only. */
type Outcome<T> = () => Promise<T>;
async function keep<T>(probe: Promise<T>): Promise<Outcome<T>> {
  await probe.catch(() => undefined);
  return () => probe;
}

/** What the core routing tests ask each server, every path through one keep-alive connection. */
const ROUTED = ['/api', '/api?x=1', '/api/x?q=1', '/apis', '/api/v2/t?q', '/api/v2x', '/edge/x?q', '/nothing'];

async function throughOneConnection(url: string, paths: string[]): Promise<Map<string, Reply>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const replies = new Map<string, Reply>();
    for (const p of paths) replies.set(p, await request(`${url}${p}`, { agent }));
    return replies;
  } finally {
    agent.destroy();
  }
}

const seen = (replies: Map<string, Reply>, p: string): unknown => {
  const reply = replies.get(p);
  if (reply?.status !== 200) throw new Error(`${p}: ${reply?.status} ${reply?.body}`);
  return JSON.parse(reply.body);
};

/** A POST of JSON whose Content-Length is over the limit, sent raw: the refusal comes before the body. */
const overByLength = (url: string, p: string, probe: string) =>
  exchange(
    url,
    `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Probe: ${probe}\r\nContent-Length: ${LIMIT + 1}\r\n\r\n` +
      `{"pad":"${'a'.repeat(LIMIT - 10)}"}`,
  );

/** A request asking to upgrade its connection, as a WebSocket client does, or curl --http2 over plain HTTP. */
const upgradeRequest = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`;
const upgrading = (url: string, p: string) => exchange(url, upgradeRequest(p), 5_000, { halfClose: true });

const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`;

describe('apps side by side (-k async): Hono at /, Express, Koa, Fastify, a Fetch handler, a Node listener and an http.Server mounted', () => {
  let probes: {
    routed: Outcome<Map<string, Reply>>;
    shapes: Outcome<Map<string, Reply>>;
    redirects: Outcome<Map<string, Reply>>;
    posted: Outcome<Reply>;
    expressOver: Outcome<Exchange>;
    expressChunkedOver: Outcome<Exchange>;
    fastifyOver: Outcome<Exchange>;
    bytes: Outcome<Reply>;
    upgrades: Outcome<Exchange>[];
    accessLog: string[];
    stdout: string;
  };

  beforeAll(async () => {
    const accessLog = path.join(tempDir(), 'access.log');
    const unicorn = await serve('hono.mjs', [
      '--chdir',
      MOUNTS,
      '-k',
      'async',
      '--limit-request-body',
      String(LIMIT),
      '--access-logfile',
      accessLog,
      '--access-logformat',
      ACCESS_FORMAT,
      ...SIDE_BY_SIDE,
    ]);
    const url = unicorn.url();
    const routed = await keep(throughOneConnection(url, ROUTED));
    const shapes = await keep(
      throughOneConnection(url, [
        '/api/seen?a=1',
        '/api/v1/seen',
        '/koa/x?q=1',
        '/koa',
        '/fastify/seen?a=1',
        '/fastify',
        '/hono/p?q=1',
        '/edge',
        '/api/v2',
        '/',
        '/ws/plain',
      ]),
    );
    const redirects = await keep(
      throughOneConnection(url, [
        '/api/go',
        '/api/go-under',
        '/koa/go',
        '/fastify/go',
        '/hono/go',
        '/go',
        '/edge/go',
        '/api/v2/go',
        '/api/v2/go-top',
      ]),
    );
    const posted = await keep(
      request(`${url}/api/json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-probe': 'posted' },
        body: '{"a":[1,2]}',
      }),
    );
    const expressOver = await keep(overByLength(url, '/api/json', 'express-over'));
    const fastifyOver = await keep(overByLength(url, '/fastify/json', 'fastify-over'));
    const expressChunkedOver = await keep(
      exchange(url, [
        `POST /api/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Probe: express-chunked\r\nTransfer-Encoding: chunked\r\n\r\n` +
          chunk(`{"pad":"${'a'.repeat(100)}`),
        () => unicorn.waitForOutput('started express-chunked'),
        chunk(`${'a'.repeat(LIMIT)}"}`) + chunk(''),
      ]),
    );
    const bytes = await keep(request(`${url}/api/bytes`));
    const upgrades: Outcome<Exchange>[] = [];
    for (const p of ['/ws/chat?room=1', '/hono/x', '/api/seen']) upgrades.push(await keep(upgrading(url, p)));
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    probes = {
      routed,
      shapes,
      redirects,
      posted,
      expressOver,
      expressChunkedOver,
      fastifyOver,
      bytes,
      upgrades,
      accessLog: readLines(accessLog),
      stdout: unicorn.stdout,
    };
  }, 60_000);

  it('routes by the longest prefix on a segment boundary; each app sees its path without the prefix', async () => {
    const routed = await probes.routed();
    expect(seen(routed, '/api')).toMatchObject({ url: '/', path: '/', baseUrl: '/api', originalUrl: '/api' });
    expect(seen(routed, '/api?x=1')).toMatchObject({ url: '/?x=1', path: '/', baseUrl: '/api', originalUrl: '/api?x=1' });
    expect(seen(routed, '/api/x?q=1')).toMatchObject({ url: '/x?q=1', path: '/x', baseUrl: '/api', originalUrl: '/api/x?q=1' });
    // Not on a segment boundary: the app at / has it, as it came.
    expect(seen(routed, '/apis')).toMatchObject({ path: '/apis', baseUrl: null, originalUrl: null });
    expect(seen(routed, '/api/v2/t?q')).toEqual({ url: '/t?q', baseUrl: '/api/v2', originalUrl: '/api/v2/t?q' });
    expect(seen(routed, '/api/v2x')).toMatchObject({ url: '/v2x', baseUrl: '/api', originalUrl: '/api/v2x' });
    expect(seen(routed, '/edge/x?q')).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/x\?q$/),
      mount: '/edge',
      baseUrl: '/edge',
      originalUrl: '/edge/x?q',
    });
    expect(seen(routed, '/nothing')).toMatchObject({ path: '/nothing' });
  });

  it('gives every shape its path and its mount point as the framework reports them', async () => {
    const shapes = await probes.shapes();
    // Express: inside a route, and inside a router of its own mounted on /v1.
    expect(seen(shapes, '/api/seen?a=1')).toEqual({ url: '/seen?a=1', path: '/seen', baseUrl: '/api', originalUrl: '/api/seen?a=1' });
    expect(seen(shapes, '/api/v1/seen')).toEqual({ url: '/seen', path: '/seen', baseUrl: '/api/v1', originalUrl: '/api/v1/seen' });
    // Koa takes ctx.originalUrl from req.url when it is called, so it is the path within the mount;
    // the target as it came is ctx.req.originalUrl, the prefix ctx.req.baseUrl.
    expect(seen(shapes, '/koa/x?q=1')).toEqual({
      url: '/x?q=1',
      path: '/x',
      originalUrl: '/x?q=1',
      reqBaseUrl: '/koa',
      reqOriginalUrl: '/koa/x?q=1',
    });
    expect(seen(shapes, '/koa')).toEqual({ url: '/', path: '/', originalUrl: '/', reqBaseUrl: '/koa', reqOriginalUrl: '/koa' });
    // Fastify's request.originalUrl is the raw request's.
    expect(seen(shapes, '/fastify/seen?a=1')).toEqual({ url: '/seen?a=1', originalUrl: '/fastify/seen?a=1', baseUrl: '/fastify' });
    expect(seen(shapes, '/fastify')).toEqual({ url: '/', originalUrl: '/fastify', baseUrl: '/fastify' });
    const hono = seen(shapes, '/hono/p?q=1') as { url: string };
    expect(hono).toMatchObject({ path: '/p', mount: '/hono', baseUrl: '/hono', originalUrl: '/hono/p?q=1' });
    expect(new URL(hono.url)).toMatchObject({ pathname: '/p', search: '?q=1' });
    expect(new URL((seen(shapes, '/edge') as { url: string }).url).pathname).toBe('/');
    expect(seen(shapes, '/api/v2')).toEqual({ url: '/', baseUrl: '/api/v2', originalUrl: '/api/v2' });
    expect(seen(shapes, '/')).toMatchObject({ path: '/', mount: '/', baseUrl: null, originalUrl: null });
    // An http.Server's request listener, for a request that does not ask to upgrade.
    expect(shapes.get('/ws/plain')).toMatchObject({ status: 200, body: 'not upgraded\n' });
  });

  it("lands each app's root-relative redirect under its prefix, whatever sets the Location", async () => {
    const redirects = await probes.redirects();
    const location = (p: string) => [redirects.get(p)?.status, redirects.get(p)?.headers.location];
    expect(location('/api/go')).toEqual([302, '/api/login']); // res.redirect
    expect(location('/api/go-under')).toEqual([302, '/api/login']); // built from req.baseUrl: already under it
    expect(location('/koa/go')).toEqual([302, '/koa/login']); // ctx.redirect
    expect(location('/fastify/go')).toEqual([302, '/fastify/login']); // reply.redirect
    expect(location('/hono/go')).toEqual([302, '/hono/login']); // c.redirect
    expect(location('/go')).toEqual([302, '/login']); // the same app at /
    // A Response with a Location header: Node's Response.redirect takes an absolute URL only.
    expect(location('/edge/go')).toEqual([302, '/edge/login']);
    expect(location('/api/v2/go')).toEqual([303, '/api/v2/login']); // writeHead's own headers
    expect(location('/api/v2/go-top')).toEqual([303, '/api/v2#top']); // under the prefix, up to its fragment
  });

  it('keeps one connection alive across requests to different mounts', async () => {
    const replies = [...(await probes.shapes()).values()];
    expect(replies).toHaveLength(11);
    expect(replies.slice(1).every((reply) => reply.reusedSocket)).toBe(true);
    expect(replies.every((reply) => reply.headers.connection === 'keep-alive')).toBe(true);
  });

  it('hands an upgrade to the mounted app that takes upgrades; elsewhere the request is served as any other', async () => {
    const [ws, hono, express] = await Promise.all(probes.upgrades.map((probe) => probe()));
    const [switched] = responses(ws!.reply);
    expect(switched?.status).toBe(101);
    expect(ws!.reply).toContain('{"url":"/chat?room=1","baseUrl":"/ws","originalUrl":"/ws/chat?room=1"}');
    // As a server with no upgrade listener answers it: the Upgrade header is not acted on.
    const [fromHono] = responses(hono!.reply);
    const [fromExpress] = responses(express!.reply);
    expect([fromHono?.status, fromExpress?.status]).toEqual([200, 200]);
    // (Hono's body comes chunked.)
    expect(hono!.reply).toContain('"path":"/x","url":"http://x/x","mount":"/hono","baseUrl":"/hono"');
    expect(JSON.parse(fromExpress!.body)).toMatchObject({ url: '/seen', baseUrl: '/api' });
  });

  it('gives a mounted Express app the request body (POST JSON to /api)', async () => {
    expect(await probes.posted()).toMatchObject({ status: 200, body: '{"got":{"a":[1,2]}}' });
  });

  it('refuses a body over --limit-request-body (413) for a mounted Express and a mounted Fastify app', async () => {
    for (const over of [await probes.expressOver(), await probes.fastifyOver()]) {
      expect(responses(over.reply)[0]).toMatchObject({ status: 413, headers: { connection: 'close' } });
    }
    expect(probes.stdout).not.toMatch(/started (express|fastify)-over/);
    // Chunked, cut off while Express's own parser reads it.
    const chunked = await probes.expressChunkedOver();
    expect(probes.stdout).toContain('started express-chunked');
    expect(responses(chunked.reply)[0]).toMatchObject({ status: 413, headers: { connection: 'close' } });
    expect(chunked.closed).toBe(true);
  });

  it('logs a mounted Express response with its target as it came and the body bytes sent', async () => {
    expect((await probes.bytes()).body).toHaveLength(1234);
    expect(probes.accessLog).toContain('GET /api/bytes 200 1234 1234');
    const routed = await probes.routed();
    const bytes = Buffer.byteLength(routed.get('/api/x?q=1')!.body);
    expect(probes.accessLog).toContain(`GET /api/x 200 ${bytes} ${bytes}`);
  });
});

const DOTTED = ['/api/../api/v2/x', '/api/v2/./x', '/api/%2e%2e/edge/x', '/api/.%2E/edge/x?q=1', 'http://app.example/api/%2e%2e/edge/x'];

describe('apps mounted with none at / (-k sync)', () => {
  let probes: { routed: Outcome<Map<string, Reply>>; absolute: Outcome<Exchange>; dotted: Outcome<Exchange>[]; accessLog: string[] };

  beforeAll(async () => {
    const accessLog = path.join(tempDir(), 'access.log');
    const args = ['--chdir', MOUNTS, '-k', 'sync', '--access-logfile', accessLog, '--access-logformat', ACCESS_FORMAT];
    const mounts = ['--mount', '/api=express.js:app', '--mount', '/api/v2=node.js', '--mount', '/edge=fetch.mjs'];
    const unicorn = await serveMounts([...args, ...mounts]);
    const routed = await keep(throughOneConnection(unicorn.url(), ROUTED));
    // The absolute form a proxy is sent: matched by its path.
    const absolute = await keep(exchange(unicorn.url(), 'GET http://app.example/api/v2/t?q HTTP/1.1\r\nHost: app.example\r\n\r\n'));
    // Dot segments, as written or encoded, in either form: which app they are for is not for the router to guess.
    const dotted: Outcome<Exchange>[] = [];
    for (const target of DOTTED) dotted.push(await keep(exchange(unicorn.url(), `GET ${target} HTTP/1.1\r\nHost: app.example\r\n\r\n`)));
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    probes = { routed, absolute, dotted, accessLog: readLines(accessLog) };
  }, 30_000);

  it('routes by the longest prefix on a segment boundary, as the async class does', async () => {
    const routed = await probes.routed();
    expect(seen(routed, '/api?x=1')).toMatchObject({ url: '/?x=1', baseUrl: '/api', originalUrl: '/api?x=1' });
    expect(seen(routed, '/api/x?q=1')).toMatchObject({ url: '/x?q=1', baseUrl: '/api', originalUrl: '/api/x?q=1' });
    expect(seen(routed, '/api/v2/t?q')).toEqual({ url: '/t?q', baseUrl: '/api/v2', originalUrl: '/api/v2/t?q' });
    expect(seen(routed, '/api/v2x')).toMatchObject({ url: '/v2x', baseUrl: '/api' });
    expect(seen(routed, '/edge/x?q')).toMatchObject({ baseUrl: '/edge', originalUrl: '/edge/x?q' });
    const [absolute] = responses((await probes.absolute()).reply);
    expect(JSON.parse(absolute!.body)).toEqual({ url: '/t?q', baseUrl: '/api/v2', originalUrl: '/api/v2/t?q' });
    // The sync class closes each connection.
    expect([...routed.values()].some((reply) => reply.reusedSocket)).toBe(false);
  });

  it('refuses a path with a . or .. segment (400), as written or encoded, rather than choose an app for it', async () => {
    const statuses: Array<[string, number | undefined]> = [];
    for (const [i, probe] of probes.dotted.entries()) statuses.push([DOTTED[i]!, responses((await probe()).reply)[0]?.status]);
    expect(statuses).toEqual(DOTTED.map((target) => [target, 400]));
  });

  it('answers 404 where no app is mounted, and logs it', async () => {
    const routed = await probes.routed();
    for (const p of ['/apis', '/nothing']) expect(routed.get(p)).toMatchObject({ status: 404, body: 'Not Found\n' });
    expect(probes.accessLog).toEqual(expect.arrayContaining(['GET /apis 404 10 10', 'GET /nothing 404 10 10']));
  });
});

/** One worker, serving what `args` name, with no app on the command line (serve() names one). */
async function serveMounts(args: string[]): Promise<Unicorn> {
  const unicorn = start(['-b', '127.0.0.1:0', '-w', '1', ...args]);
  await unicorn.ready(1);
  return unicorn;
}

describe('over HTTP/2', () => {
  const certificates = new TestCertificates('unicorn-mounts-h2-');
  beforeAll(() => certificates.selfSigned('server'));
  afterAll(() => certificates.remove());

  it('gives mounted Fetch handlers, Hono and Koa their paths, lands their redirects under their prefixes, and routes HTTP/1.1 upgrades', async () => {
    const tlsFiles = ['--certfile', certificates.file('server.pem'), '--keyfile', certificates.file('server.key')];
    const unicorn = await serve('hono.mjs', [
      '--chdir',
      MOUNTS,
      '-k',
      'async',
      '--http2',
      ...tlsFiles,
      '--mount',
      '/edge=fetch.mjs',
      '--mount',
      '/hono=hono.mjs',
      '--mount',
      '/koa=koa.mjs',
      '--mount',
      '/ws=upgrade.js:server',
    ]);
    const session = http2.connect(unicorn.addresses()[0]!.replace('127.0.0.1', 'localhost'), { ca: certificates.pem('server.pem') });
    session.on('error', () => {}); // a failed request says why
    try {
      const get = (p: string) => h2Get(session, p);
      const edge = await get('/edge/x?q=1');
      expect(edge.status).toBe(200);
      expect(JSON.parse(edge.body)).toEqual({
        url: expect.stringMatching(/^https:\/\/localhost:\d+\/x\?q=1$/),
        mount: '/edge',
        baseUrl: '/edge',
        originalUrl: '/edge/x?q=1',
      });
      expect(JSON.parse((await get('/hono/p')).body)).toMatchObject({ path: '/p', baseUrl: '/hono', originalUrl: '/hono/p' });
      expect(JSON.parse((await get('/honors')).body)).toMatchObject({ path: '/honors', baseUrl: null });
      expect(await get('/hono/go')).toMatchObject({ status: 302, location: '/hono/login' });
      expect(await get('/edge/go')).toMatchObject({ status: 302, location: '/edge/login' });
      // Koa sets its Location and status on the response and ends it: no writeHead of its own.
      expect(await get('/koa/go')).toMatchObject({ status: 302, location: '/koa/login' });
      expect(JSON.parse((await get('/koa/x')).body)).toMatchObject({ url: '/x', reqBaseUrl: '/koa', reqOriginalUrl: '/koa/x' });
    } finally {
      session.destroy();
    }
    // HTTP/1.1 on the same port (ALPN): an upgrade for the app that takes them, and for one that does not.
    const upgradeOverTls = async (p: string, expected: RegExp) =>
      expect(await tlsExchange(unicorn.addresses()[0]!, certificates.pem('server.pem'), upgradeRequest(p), expected)).toMatch(expected);
    await upgradeOverTls('/ws/a', /^HTTP\/1\.1 101 [\s\S]*"url":"\/a","baseUrl":"\/ws"/);
    await upgradeOverTls('/hono/x', /^HTTP\/1\.1 200 [\s\S]*"path":"\/x","url":"https:\/\/x\/x","mount":"\/hono","baseUrl":"\/hono"/);
  });
});

/**
 * Send `bytes` over TLS with HTTP/1.1 offered alone, and collect what comes back until it matches
 * `until` or the server closes. (Not half-closed: over TLS, that may end the connection before an
 * answer that is not ready at once.)
 */
function tlsExchange(url: string, ca: string, bytes: string, until: RegExp): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () =>
      socket.write(bytes),
    );
    let reply = '';
    const done = () => {
      socket.destroy();
      resolve(reply);
    };
    socket.setEncoding('latin1').on('data', (text: string) => {
      reply += text;
      if (until.test(reply)) done();
    });
    socket.on('close', done);
    socket.on('error', reject);
    socket.setTimeout(5_000, done);
  });
}

function h2Get(session: http2.ClientHttp2Session, p: string): Promise<{ status: number; location: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': p });
    let head: http2.IncomingHttpHeaders = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (head = h));
    stream.on('data', (text: string) => (body += text));
    stream.on('end', () => resolve({ status: Number(head[':status']), location: head.location, body }));
    stream.on('error', reject);
    stream.end();
  });
}

describe('mounts in a config file, and a reload', () => {
  const versioned = (version: string) => `module.exports = (req, res) => res.end(\`version ${version} \${req.baseUrl} \${req.url}\\n\`);\n`;

  it('serves the mounts a config file names (object form); --check-config says what is served', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'unicorn.config.js');
    writeFileSync(config, `module.exports = { app: 'hono.mjs', mounts: { '/api': 'express.js:app', '/edge/': 'fetch.mjs' } };\n`);
    const checked = await runToExit(['--check-config', '-c', config, '--chdir', MOUNTS]);
    expect(checked.code).toBe(0);
    expect(checked.unicorn.stdout).toMatch(
      /^Configuration OK: serving hono\.mjs as fetch-object, \/api=express\.js:app as node, \/edge=fetch\.mjs as fetch, /,
    );
    const unicorn = await serveMounts(['-c', config, '--chdir', MOUNTS]);
    const replies = await throughOneConnection(unicorn.url(), ['/api/x', '/edge/y', '/z']);
    expect(seen(replies, '/api/x')).toMatchObject({ url: '/x', baseUrl: '/api' });
    expect(seen(replies, '/edge/y')).toMatchObject({ baseUrl: '/edge', originalUrl: '/edge/y' });
    expect(seen(replies, '/z')).toMatchObject({ path: '/z', baseUrl: null });
  });

  it('HUP reloads every mounted app: the new code answers, and no request fails meanwhile', async () => {
    const dir = tempDir();
    const app = path.join(dir, 'versioned.js');
    writeFileSync(app, versioned('1'));
    const unicorn = await serve('hono.mjs', ['--chdir', MOUNTS, '-k', 'async', '--mount', `/v=${app}`, '--mount', '/api=express.js:app'], {
      workers: 2,
    });
    expect((await request(`${unicorn.url()}/v/a`)).body).toBe('version 1 /v /a\n');
    const load = await Load.start(`${unicorn.url()}/v/a`, { keepAlive: true });
    await load.flowing();
    writeFileSync(app, versioned('2'));
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    await load.flowing(20);
    const counts = await load.stop();
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    expect((await request(`${unicorn.url()}/v/a`)).body).toBe('version 2 /v /a\n');
    expect(seen(await throughOneConnection(unicorn.url(), ['/api/x']), '/api/x')).toMatchObject({ url: '/x', baseUrl: '/api' });
  });
});

describe('refusals', () => {
  it('fails the boot with exit code 4 and one line naming the mount whose module cannot load', async () => {
    const { code, unicorn } = await runToExit(['-b', '127.0.0.1:0', '--chdir', MOUNTS, '--mount', '/api=missing.js', 'hono.mjs']);
    expect(code).toBe(4);
    const [failure] = unicorn.bootFailures();
    expect(failure?.msg).toMatch(/^cannot load the app "\/api=missing\.js": module "missing\.js" was not found/);
    expect(failure?.msg).not.toContain('\n');
  });

  it('fails the boot with exit code 4 for a mounted Express app under --http2, naming the mount', async () => {
    const certificates = new TestCertificates('unicorn-mounts-h2-');
    try {
      certificates.selfSigned('server');
      const tlsFiles = ['--certfile', certificates.file('server.pem'), '--keyfile', certificates.file('server.key')];
      const args = ['-b', '127.0.0.1:0', '--chdir', MOUNTS, '--http2', ...tlsFiles, '--mount', '/api=express.js:app', 'hono.mjs'];
      const { code, unicorn } = await runToExit(args);
      expect(code).toBe(4);
      expect(unicorn.bootFailures()[0]?.msg).toMatch(/^.*"\/api=express\.js:app".*Express app, which does not work over HTTP\/2/);
    } finally {
      certificates.remove();
    }
  });

  const PREFIX_ACCEPTED = 'PREFIX=MODULE[:EXPORT], as in /api=api.js:app, where PREFIX is a path such as /api';
  it.each([
    [['--mount', 'api.js'], `--mount "api.js" is not accepted: expected ${PREFIX_ACCEPTED}`, 'there is no = between the prefix'],
    [
      ['--mount', 'api=node.js'],
      `--mount "api=node.js" is not accepted: expected ${PREFIX_ACCEPTED}`,
      'the prefix "api" does not start with /',
    ],
    [['--mount', '/a/../b=node.js'], `--mount "/a/../b=node.js" is not accepted: expected ${PREFIX_ACCEPTED}`, 'has a .. segment'],
    [
      ['--mount', '/api=node.js', '--mount', '/api/=koa.mjs'],
      'two apps are given for the prefix /api (/api=node.js and /api=koa.mjs)',
      'one prefix serves one app',
    ],
    [
      ['--mount', '/=node.js'],
      'two apps are given for the prefix / (hono.mjs and /=node.js)',
      'the app named without a prefix is the one at /',
    ],
  ])('refuses %j with exit code 2, naming the value and what is accepted', async (mounts, names, why) => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '--chdir', MOUNTS, ...mounts, 'hono.mjs']);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(names);
    expect(stderr).toContain(why);
  });
});
