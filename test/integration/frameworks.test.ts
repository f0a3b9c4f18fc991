/**
 * The framework behaviour matrix: every per-request guarantee unicorn makes, with every kind of app it
 * serves, whatever the framework does to the request and response objects (Express gives each a
 * prototype of its own). The apps (test/fixtures/apps/frameworks/) have the same routes:
 *
 * - `GET /hello`, `GET /stream` (three writes): text; anything else is the framework's own 404;
 * - `GET /keep`: the app sets `Connection: keep-alive` on its response;
 * - `GET /client`: the client's address, scheme and host as the framework reports them;
 * - `POST /body`: prints `started PROBE` (PROBE: its `X-Probe` header) on stdout, then reads the
 *   JSON body (with the framework's own parser where it has one, its limit far above unicorn's) and
 *   answers the length of its `pad`.
 *
 * One server per app and worker class: the probes run in `beforeAll`, each keeping its outcome, and
 * each test checks one guarantee on what its probe found.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { readLines } from '../helpers/files';
import { type Reply, request } from '../helpers/http';
import { type Exchange, exchange, responses } from '../helpers/raw';
import { APPS, serve, type Unicorn } from '../helpers/unicorn';

const FRAMEWORK_APPS = path.join(APPS, 'frameworks');
const LIMIT = 4096;
const ACCESS_FORMAT = '%(m)s %(U)s %(s)s %(b)s %(B)s';

const APPS_BY_FRAMEWORK = [
  ['Express 4', 'express.js:express4'],
  ['Express 5', 'express.js:express5'],
  ['Fastify', 'fastify.js'],
  ['Koa', 'koa.mjs'],
  ['Hono', 'hono.mjs'],
  ['a Fetch handler', 'fetch.mjs'],
  ['a Node listener', 'node.js'],
  ['a Node listener with prototypes of its own', 'layered.js'],
] as const;

/** A probe's outcome, kept for its test: one probe that fails fails its own test only. */
type Outcome<T> = () => Promise<T>;
async function keep<T>(probe: Promise<T>): Promise<Outcome<T>> {
  await probe.catch(() => undefined);
  return () => probe;
}

/** A chunk of a chunked body. */
const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`;
const bodyHead = (probe: string, framing: string) =>
  `POST /body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Probe: ${probe}\r\n${framing}\r\n\r\n`;

interface Probes {
  /** Two requests through one keep-alive agent. */
  hello: Outcome<Reply[]>;
  stream: Outcome<Reply>;
  missing: Outcome<Reply>;
  /** sync: `GET /keep` without a Connection header from the client, watched until the server closes. */
  keepHeader?: Outcome<Exchange>;
  forwarded: Outcome<Reply>;
  direct: Outcome<Reply>;
  /** A body over the limit by its Content-Length. */
  lengthOver: Outcome<Exchange>;
  /** A chunked body that passes the limit after the app has begun reading it. */
  chunkedOver: Outcome<Exchange>;
  /** A chunked body whose last chunk is sent once a HUP's hand-over has begun in its worker. */
  drained: Outcome<Reply>;
  accessLog: string[];
  stdout: string;
}

async function runProbes(unicorn: Unicorn, workerClass: string, accessLog: string): Promise<Probes> {
  const url = unicorn.url();
  const hello = await keep(twice(`${url}/hello`));
  const stream = await keep(request(`${url}/stream`));
  const missing = await keep(request(`${url}/missing`));
  // A connection kept open would stay for --keep-alive (60 s): the wait is a bound for that only.
  const keepHeader = workerClass === 'sync' ? await keep(exchange(url, 'GET /keep HTTP/1.1\r\nHost: x\r\n\r\n')) : undefined;
  const forwarded = await keep(
    request(`${url}/client`, {
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' },
    }),
  );
  const direct = await keep(request(`${url}/client`));
  const lengthOver = await keep(exchange(url, `${bodyHead('length-over', `Content-Length: ${LIMIT + 1}`)}${'a'.repeat(LIMIT + 1)}`));
  const chunkedOver = await keep(
    exchange(url, [
      bodyHead('chunked-over', 'Transfer-Encoding: chunked') + chunk(`{"pad":"${'a'.repeat(100)}`),
      () => unicorn.waitForOutput('started chunked-over'),
      chunk(`${'a'.repeat(LIMIT)}"}`) + chunk(''),
    ]),
  );
  const drained = await keep(drainProbe(unicorn, url));
  unicorn.signal('SIGTERM');
  await unicorn.exited;
  return {
    hello,
    stream,
    missing,
    keepHeader,
    forwarded,
    direct,
    lengthOver,
    chunkedOver,
    drained,
    accessLog: readLines(accessLog),
    stdout: unicorn.stdout,
  };
}

/** Two requests, one after the other, through one keep-alive agent. */
async function twice(url: string): Promise<Reply[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return [await request(url, { agent }), await request(url, { agent })];
  } finally {
    agent.destroy();
  }
}

/** A request in flight across a reload: its body's last part is sent once its worker is exiting. */
function drainProbe(unicorn: Unicorn, url: string): Promise<Reply> {
  const [worker] = unicorn.workerPids();
  return request(`${url}/body`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-probe': 'drain' },
    send: async (req) => {
      req.write('{"pad":"');
      await unicorn.waitForOutput('started drain');
      unicorn.signal('SIGHUP');
      await unicorn.waitForLog((l) => l.msg === `Worker exiting (pid: ${worker})`, 'the old worker exiting');
      req.end('drained"}');
    },
  });
}

describe.each(APPS_BY_FRAMEWORK)('%s', (_, app) => {
  describe.each(['sync', 'async'] as const)('-k %s', (workerClass) => {
    let probes: Probes;

    beforeAll(async () => {
      const accessLog = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-frameworks-')), 'access.log');
      const args = ['--chdir', FRAMEWORK_APPS, '-k', workerClass, '--limit-request-body', String(LIMIT), '--keep-alive', '60s'];
      const unicorn = await serve(app, [...args, '--access-logfile', accessLog, '--access-logformat', ACCESS_FORMAT]);
      probes = await runProbes(unicorn, workerClass, accessLog);
    }, 60_000);

    it('refuses a body over --limit-request-body by its Content-Length (413), before the app sees it', async () => {
      const [refusal] = responses((await probes.lengthOver()).reply);
      expect(refusal).toMatchObject({ status: 413, headers: { connection: 'close' } });
      expect(probes.stdout).not.toContain('started length-over');
    });

    it('cuts off a chunked body where it passes --limit-request-body (413), while the app reads it', async () => {
      const exchanged = await probes.chunkedOver();
      expect(probes.stdout).toContain('started chunked-over');
      expect(responses(exchanged.reply)[0]).toMatchObject({ status: 413, headers: { connection: 'close' } });
      expect(exchanged.closed).toBe(true);
    });

    if (workerClass === 'async') {
      it('keeps connections alive: one connection serves two requests', async () => {
        const [first, second] = await probes.hello();
        expect(first).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
        expect(second).toMatchObject({ status: 200, reusedSocket: true });
      });
    } else {
      it('closes the connection after each response, even one the app marks keep-alive', async () => {
        for (const reply of await probes.hello())
          expect(reply).toMatchObject({ status: 200, headers: { connection: 'close' }, reusedSocket: false });
        const exchanged = await probes.keepHeader!();
        expect(responses(exchanged.reply)[0]).toMatchObject({ status: 200, headers: { connection: 'close' } });
        expect(exchanged.closed).toBe(true);
      });
    }

    it('logs each response with its status and the body bytes sent', async () => {
      const [hello] = await probes.hello();
      const stream = await probes.stream();
      const missing = await probes.missing();
      const [refusal] = responses((await probes.lengthOver()).reply);
      expect(stream.body).toBe('one\ntwo\nthree\n');
      expect(missing.status).toBe(404);
      const line = (method: string, urlPath: string, status: number, body: string) => {
        const bytes = Buffer.byteLength(body);
        return `${method} ${urlPath} ${status} ${bytes > 0 ? bytes : '-'} ${bytes}`;
      };
      expect(probes.accessLog).toEqual(
        expect.arrayContaining([
          line('GET', '/hello', 200, hello!.body),
          line('GET', '/stream', 200, stream.body),
          line('GET', '/missing', 404, missing.body),
          line('POST', '/body', 413, refusal!.body),
        ]),
      );
    });

    it("gives the app a trusted proxy's client address, scheme and host", async () => {
      expect(JSON.parse((await probes.forwarded()).body)).toEqual({ ip: '203.0.113.7', protocol: 'https', host: 'app.example' });
      expect(JSON.parse((await probes.direct()).body)).toMatchObject({ ip: '127.0.0.1', protocol: 'http' });
    });

    it('finishes a request in flight during a reload, with Connection: close', async () => {
      const reply = await probes.drained();
      expect(reply).toMatchObject({ status: 200, headers: { connection: 'close' } });
      expect(JSON.parse(reply.body)).toEqual({ received: 'drained'.length });
    });
  });
});
