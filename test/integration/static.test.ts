/**
 * --static PREFIX=DIR (issue 17): files served by the worker before the apps, with the library's
 * HTTP semantics, hostile paths refused, and the apps reached for anything that is not a file here.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { localhostCertificate } from '../helpers/certificates';
import { waitForLines } from '../helpers/files';
import { request } from '../helpers/http';
import { connect, exchange, responses } from '../helpers/raw';
import { APPS, NOBODY, runToExit, serve, start, type Unicorn } from '../helpers/unicorn';

const URL_ECHO = path.join(APPS, 'url-echo.mjs');

const root = mkdtempSync(path.join(os.tmpdir(), 'unicorn-static-'));
const PUB = path.join(root, 'pub');
const OUTSIDE = path.join(root, 'outside');
const HELLO = 'hello, static\n'.repeat(73); // about 1 KB
const APP_JS = 'console.log("fingerprinted");\n'.repeat(40);
const BIG = Buffer.alloc(10 * 1024 * 1024);
const HUGE_BYTES = 64 * 1024 * 1024;
for (let i = 0; i < BIG.length; i += 4) BIG.writeUInt32LE(i, i);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(() => {
  chmodSync(root, 0o755);
  for (const dir of ['sub', 'empty-dir', 'assets', '.hidden']) mkdirSync(path.join(PUB, dir), { recursive: true });
  mkdirSync(OUTSIDE);
  writeFileSync(path.join(PUB, 'hello.txt'), HELLO);
  writeFileSync(path.join(PUB, 'sub', 'index.html'), '<h1>sub</h1>\n');
  writeFileSync(path.join(PUB, 'assets', 'app.3f9a.js'), APP_JS);
  writeFileSync(path.join(PUB, 'assets', 'app.3f9a.js.br'), brotliCompressSync(APP_JS));
  writeFileSync(path.join(PUB, 'assets', 'app.3f9a.js.gz'), gzipSync(APP_JS));
  writeFileSync(path.join(PUB, 'style.css'), 'body { color: red }\n'.repeat(30));
  writeFileSync(path.join(PUB, 'style.css.gz'), gzipSync('body { color: red }\n'.repeat(30)));
  writeFileSync(path.join(PUB, '.env'), 'SECRET=1\n');
  writeFileSync(path.join(PUB, '.hidden', 'x.txt'), 'hidden\n');
  writeFileSync(path.join(PUB, 'big.bin'), BIG);
  // Sparse: more than loopback's socket buffers can hold, whatever the kernel allows them.
  writeFileSync(path.join(PUB, 'huge.bin'), '');
  truncateSync(path.join(PUB, 'huge.bin'), HUGE_BYTES);
  writeFileSync(path.join(OUTSIDE, 'secret.txt'), 'outside the directory\n');
  symlinkSync(path.join(PUB, 'hello.txt'), path.join(PUB, 'inside-link.txt'));
  symlinkSync(path.join(OUTSIDE, 'secret.txt'), path.join(PUB, 'outside-link.txt'));
  symlinkSync(OUTSIDE, path.join(PUB, 'outside-dir'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A server with the files under /s and the URL-echoing app at /. */
const serveStatic = (args: string[] = [], workerClass = 'async'): Promise<Unicorn> =>
  serve(URL_ECHO, ['-k', workerClass, '--static', `/s=${PUB}`, ...args]);

interface BytesReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GET (or another method) with the body as bytes: a compressed body is checked as it came. */
function fetchBytes(url: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<BytesReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** What the app at / answers: the URL-echo's JSON, or undefined when the static server answered. */
const byApp = (body: string): { url: string; method: string } | undefined => {
  try {
    return JSON.parse(body) as { url: string; method: string };
  } catch {
    return undefined;
  }
};

describe.each(['sync', 'async'])('static files with the %s worker class', (workerClass) => {
  it('200 with type, length, ETag, Last-Modified and Cache-Control; HEAD; 304 both ways; 206 and 416', async () => {
    const unicorn = await serveStatic([], workerClass);
    const url = `${unicorn.url()}/s/hello.txt`;
    const full = await request(url);
    expect(full.status).toBe(200);
    expect(full.body).toBe(HELLO);
    expect(full.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(HELLO.length),
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=0',
    });
    expect(full.headers.etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    expect(Date.parse(full.headers['last-modified']!)).not.toBeNaN();

    const head = await request(url, { method: 'HEAD' });
    expect([head.status, head.body, head.headers['content-length'], head.headers.etag]).toEqual([
      200,
      '',
      String(HELLO.length),
      full.headers.etag,
    ]);

    const byEtag = await request(url, { headers: { 'if-none-match': full.headers.etag! } });
    const byDate = await request(url, { headers: { 'if-modified-since': full.headers['last-modified']! } });
    const stale = await request(url, { headers: { 'if-none-match': 'W/"0-0"' } });
    expect([byEtag.status, byEtag.body, byDate.status, byDate.body, stale.status]).toEqual([304, '', 304, '', 200]);
    expect(byEtag.headers.etag).toBe(full.headers.etag);

    const range = await request(url, { headers: { range: 'bytes=7-12' } });
    expect([range.status, range.body, range.headers['content-range']]).toEqual([206, HELLO.slice(7, 13), `bytes 7-12/${HELLO.length}`]);
    const suffix = await request(url, { headers: { range: 'bytes=-5' } });
    expect([suffix.status, suffix.body]).toEqual([206, HELLO.slice(-5)]);
    const unsatisfiable = await request(url, { headers: { range: `bytes=${HELLO.length + 10}-` } });
    expect([unsatisfiable.status, unsatisfiable.headers['content-range']]).toEqual([416, `bytes */${HELLO.length}`]);

    // The big file's range comes from the disk, not from memory.
    const big = await fetchBytes(`${unicorn.url()}/s/big.bin`, { range: 'bytes=5000000-5000099' });
    expect([big.status, big.body.equals(BIG.subarray(5_000_000, 5_000_100))]).toEqual([206, true]);
  });

  it('index.html for a directory, a redirect to the slash under the prefix, and the apps for the rest', async () => {
    const unicorn = await serveStatic([], workerClass);
    const base = unicorn.url();
    const index = await request(`${base}/s/sub/`);
    expect([index.status, index.body, index.headers['content-type']]).toEqual([200, '<h1>sub</h1>\n', 'text/html; charset=utf-8']);
    const redirect = await request(`${base}/s/sub?x=1`);
    expect([redirect.status, redirect.headers.location]).toEqual([301, '/s/sub/?x=1']);
    // The prefix itself is the directory: its relative links resolve only under the slash.
    const prefix = await request(`${base}/s?x=1`);
    expect([prefix.status, prefix.headers.location]).toEqual([301, '/s/?x=1']);
    // No index.html: not a file here, so the app answers it.
    const noIndex = await request(`${base}/s/empty-dir/`);
    expect(byApp(noIndex.body)).toMatchObject({ method: 'GET', url: `${base}/s/empty-dir/` });
    const missing = await request(`${base}/s/missing.txt`);
    expect(byApp(missing.body)).toMatchObject({ method: 'GET', url: `${base}/s/missing.txt` });
    const post = await request(`${base}/s/hello.txt`, { method: 'POST', body: 'x' });
    expect(byApp(post.body)).toMatchObject({ method: 'POST', url: `${base}/s/hello.txt` });
    const put = await request(`${base}/s/hello.txt`, { method: 'PUT', body: 'x' });
    expect(byApp(put.body)).toMatchObject({ method: 'PUT' });
  });
});

describe('paths that would leave the directory', () => {
  const HOSTILE: Array<[string, number]> = [
    ['/s/../outside/secret.txt', 403],
    ['/s/%2e%2e/outside/secret.txt', 403],
    ['/s/%2E%2E/outside/secret.txt', 403],
    ['/s/sub/../hello.txt', 403],
    ['/s/%2e%2e%2foutside%2fsecret.txt', 403],
    ['/s/sub%2f..%2f..%2foutside%2fsecret.txt', 403],
    ['/s/assets%2Fapp.3f9a.js', 403],
    ['/s/..\\outside\\secret.txt', 403],
    ['/s/sub\\index.html', 403],
    ['/s/..%5coutside%5csecret.txt', 403],
    ['/s/hello.txt%00.png', 400],
    ['/s/%00', 400],
    ['/s/%zz', 400],
    ['/s/hello%2', 400],
    ['/s/%e0%a4%a', 400],
    ['/s/%ff', 400],
  ];

  it('are answered 400 or 403 by the static server, never handed to the apps', async () => {
    const unicorn = await serveStatic();
    const failures: string[] = [];
    for (const [target, status] of HOSTILE) {
      const { reply } = await exchange(unicorn.url(), `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const [response] = responses(reply);
      if (response?.status !== status || byApp(response.body) || response.body.includes('outside the directory')) {
        failures.push(`${target}: ${reply.split('\r\n')[0]} ${response?.body ?? ''}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('a redirect at the prefix / never begins with //, which would leave the site', async () => {
    const unicorn = await serve(URL_ECHO, ['--static', `/=${PUB}`]);
    const { reply } = await exchange(unicorn.url(), 'GET //sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(responses(reply)[0]).toMatchObject({ status: 301, headers: { location: '/sub/' } });
  });

  it('dotfiles are not found by default (the app answers), 403 with deny, served with allow', async () => {
    const ignoring = await serveStatic();
    for (const target of ['/s/.env', '/s/.hidden/x.txt']) {
      expect(byApp((await request(`${ignoring.url()}${target}`)).body)).toMatchObject({ url: `${ignoring.url()}${target}` });
    }
    const denying = await serveStatic(['--static-dotfiles', 'deny']);
    expect((await request(`${denying.url()}/s/.env`)).status).toBe(403);
    const allowing = await serveStatic(['--static-dotfiles', 'allow']);
    expect((await request(`${allowing.url()}/s/.hidden/x.txt`)).body).toBe('hidden\n');
  });

  it('a symbolic link inside is served; one that leads out is not found, unless --static-follow-symlinks', async () => {
    const unicorn = await serveStatic();
    const base = unicorn.url();
    expect((await request(`${base}/s/inside-link.txt`)).body).toBe(HELLO);
    for (const target of ['/s/outside-link.txt', '/s/outside-dir/secret.txt', '/s/outside-dir']) {
      // Twice: the second answer comes from the verdict the worker keeps.
      for (let i = 0; i < 2; i++) expect(byApp((await request(`${base}${target}`)).body)).toMatchObject({ url: `${base}${target}` });
    }
    const following = await serveStatic(['--static-follow-symlinks']);
    expect((await request(`${following.url()}/s/outside-link.txt`)).body).toBe('outside the directory\n');
    expect((await request(`${following.url()}/s/outside-dir/secret.txt`)).body).toBe('outside the directory\n');
  });
});

describe("a directory reached through a link, and requests that are no one's", () => {
  it('a deploy that moves the link to the directory (current -> releases/N) is served at once', async () => {
    const site = mkdtempSync(path.join(root, 'site-'));
    for (const release of ['1', '2']) {
      mkdirSync(path.join(site, 'releases', release), { recursive: true });
      writeFileSync(path.join(site, 'releases', release, 'a.txt'), `release ${release}\n`);
    }
    symlinkSync(path.join(site, 'releases', '1'), path.join(site, 'current'));
    const unicorn = await serve(URL_ECHO, ['--static', `/r=${path.join(site, 'current')}`]);
    expect((await request(`${unicorn.url()}/r/a.txt`)).body).toBe('release 1\n');
    symlinkSync(path.join(site, 'releases', '2'), path.join(site, 'next'));
    renameSync(path.join(site, 'next'), path.join(site, 'current'));
    expect((await request(`${unicorn.url()}/r/a.txt`)).body).toBe('release 2\n');
  });

  it("a file missing from a static directory with no app to take it is 404, logged and counted as no mount's", async () => {
    const log = path.join(mkdtempSync(path.join(root, 'log-')), 'access.log');
    // The access log's format names the mount first.
    const server = start([
      '-b',
      '127.0.0.1:0',
      '--static',
      `/s=${PUB}`,
      '--mount',
      `/api=${URL_ECHO}`,
      '--access-logfile',
      log,
      '--access-logformat',
      '%(mount)s %(s)s %(U)s',
    ]);
    await server.ready(1);
    expect((await request(`${server.url()}/s/missing.txt`)).status).toBe(404);
    expect((await request(`${server.url()}/s/hello.txt`)).status).toBe(200);
    const lines = await waitForLines(log, 2);
    expect(lines.map((line) => line.split(' ')[0])).toEqual(['-', 'static:/s']);
  });
});

describe('files that change under load', () => {
  /** What `clients` keep-alive clients got for `url` over `ms`: each body (or status and body) counted. */
  async function tally(url: string, ms: number, clients = 6): Promise<Map<string, number>> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const counts = new Map<string, number>();
    const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
    const until = Date.now() + ms;
    const client = async () => {
      while (Date.now() < until) {
        await new Promise<void>((resolve) => {
          const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const body = Buffer.concat(chunks).toString();
              count(res.statusCode === 200 ? body : `${res.statusCode} ${body}`);
              resolve();
            });
            res.on('error', () => resolve(void count('reset')));
          });
          req.on('timeout', () => req.destroy(new Error('timed out')));
          req.on('error', (err) => resolve(void count(`error ${err.message}`)));
        });
      }
    };
    await Promise.all(Array.from({ length: clients }, client));
    agent.destroy();
    return counts;
  }

  /**
   * Run `body` over and over in a shell (from `dir`) while `during` runs. The loop is told to stop
   * by a file and waited for, so no `ln` or `mv` of it lands after the test has put things back
   * (killing the shell would leave the command of the moment running); it is killed by its pid
   * only if it does not stop within 10 s.
   */
  async function whileRunning<T>(dir: string, body: string, during: () => Promise<T>): Promise<T> {
    const stop = path.join(root, `stop-${path.basename(dir)}`);
    const shell = spawn('/bin/sh', ['-c', `cd ${dir} && while [ ! -e ${stop} ]; do ${body}; done`], { stdio: 'ignore' });
    const exited = once(shell, 'exit');
    try {
      return await during();
    } finally {
      writeFileSync(stop, '');
      const timer = setTimeout(() => shell.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }

  it.each(['sync', 'async'])(
    '%s: a link swapped between a file inside and one outside never serves the outside one',
    async (workerClass) => {
      const dir = mkdtempSync(path.join(root, 'swapped-'));
      const outside = mkdtempSync(path.join(root, 'secret-'));
      writeFileSync(path.join(dir, 'real.txt'), 'inside\n');
      writeFileSync(path.join(outside, 'secret.txt'), 'SECRET\n');
      symlinkSync('real.txt', path.join(dir, 'page.txt'));
      const unicorn = await serve(URL_ECHO, ['-w', '2', '-k', workerClass, '--static', `/w=${dir}`]);
      const swap = `ln -sfn ${outside}/secret.txt t && mv -T t page.txt; ln -sfn real.txt t && mv -T t page.txt`;
      const counts = await whileRunning(dir, swap, () => tally(`${unicorn.url()}/w/page.txt`, 2_000));
      expect(counts.get('inside\n')).toBeGreaterThan(0);
      expect([...counts.keys()].filter((body) => body.includes('SECRET'))).toEqual([]);
      // The link points inside again: nothing kept from the race serves the outside file.
      symlinkSync('real.txt', path.join(dir, 'again.txt'));
      renameSync(path.join(dir, 'again.txt'), path.join(dir, 'page.txt'));
      const after = await tally(`${unicorn.url()}/w/page.txt`, 300, 2);
      expect([...after.keys()]).toEqual(['inside\n']);
    },
  );

  it('a file replaced hundreds of times a second (written aside, renamed over) is always answered whole, never 500', async () => {
    const dir = mkdtempSync(path.join(root, 'renamed-'));
    const versions = ['a'.repeat(3000), 'b'.repeat(5000)];
    writeFileSync(path.join(dir, 'page.txt'), versions[0]!);
    const unicorn = await serve(URL_ECHO, ['-w', '2', '-k', 'async', '--static', `/v=${dir}`]);
    const replace = `printf '${versions[1]}' > t && mv t page.txt; sleep 0.002; printf '${versions[0]}' > t && mv t page.txt; sleep 0.002`;
    const counts = await whileRunning(dir, replace, () => tally(`${unicorn.url()}/v/page.txt`, 2_000));
    expect([...counts.keys()].filter((body) => !versions.includes(body))).toEqual([]);
  });

  it('a deploy that switches the link to the directory back and forth serves every file from one release or the other', async () => {
    const site = mkdtempSync(path.join(root, 'flips-'));
    for (const release of ['1', '2']) {
      mkdirSync(path.join(site, 'releases', release), { recursive: true });
      writeFileSync(path.join(site, 'releases', release, 'a.txt'), `release ${release}\n`);
    }
    symlinkSync('releases/1', path.join(site, 'current'));
    const unicorn = await serve(URL_ECHO, ['-w', '2', '-k', 'async', '--static', `/r=${path.join(site, 'current')}`]);
    const flip = `ln -sfn releases/2 next && mv -T next current; sleep 0.1; ln -sfn releases/1 next && mv -T next current; sleep 0.1`;
    const counts = await whileRunning(site, flip, () => tally(`${unicorn.url()}/r/a.txt`, 2_000));
    expect([...counts.keys()].filter((body) => body !== 'release 1\n' && body !== 'release 2\n')).toEqual([]);
  });
});

describe('plain GETs answered again from memory', () => {
  it.each([[[]], [['--static-cache-size', '0']]])(
    '%j: see at once a file changed, removed, or swapped for a link that leads out',
    async (args) => {
      const dir = mkdtempSync(path.join(root, 'changing-'));
      const file = path.join(dir, 'page.txt');
      writeFileSync(file, 'first version\n');
      const unicorn = await serve(URL_ECHO, ['-k', 'sync', '--static', `/c=${dir}`, ...args]);
      const get = () => fetchBytes(`${unicorn.url()}/c/page.txt`);
      const first = await get();
      expect((await get()).body.toString()).toBe('first version\n');
      writeFileSync(file, 'other version\n');
      utimesSync(file, new Date(), new Date(Date.now() + 5_000));
      const second = await get();
      expect(second.body.toString()).toBe('other version\n');
      expect(second.headers.etag).not.toBe(first.headers.etag);
      // A HEAD and a conditional GET get the new file's headers too.
      expect((await fetchBytes(`${unicorn.url()}/c/page.txt`, {}, 'HEAD')).headers.etag).toBe(second.headers.etag);
      expect((await fetchBytes(`${unicorn.url()}/c/page.txt`, { 'if-none-match': second.headers.etag! })).status).toBe(304);
      rmSync(file);
      expect(byApp((await get()).body.toString())).toMatchObject({ url: expect.stringMatching(/\/c\/page\.txt$/) });
      symlinkSync(path.join(OUTSIDE, 'secret.txt'), file);
      expect(byApp((await get()).body.toString())).toMatchObject({ url: expect.stringMatching(/\/c\/page\.txt$/) });
    },
  );
});

describe('precompressed siblings and caching', () => {
  it('.br or .gz by Accept-Encoding and its q-values, with the original type and Vary; ranges of the file itself', async () => {
    const unicorn = await serveStatic();
    const url = `${unicorn.url()}/s/assets/app.3f9a.js`;
    const type = 'application/javascript; charset=utf-8';
    const br = await fetchBytes(url, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers).toMatchObject({ 'content-encoding': 'br', 'content-type': type, vary: 'Accept-Encoding' });
    expect(brotliDecompressSync(br.body).toString()).toBe(APP_JS);
    const gz = await fetchBytes(url, { 'accept-encoding': 'br;q=0.5, gzip' });
    expect(gz.headers).toMatchObject({ 'content-encoding': 'gzip', 'content-type': type, vary: 'Accept-Encoding' });
    expect(gunzipSync(gz.body).toString()).toBe(APP_JS);
    const refused = await fetchBytes(url, { 'accept-encoding': 'br;q=0, gzip;q=0' });
    expect([refused.headers['content-encoding'], refused.headers.vary, refused.body.toString()]).toEqual([
      undefined,
      'Accept-Encoding',
      APP_JS,
    ]);
    const wildcard = await fetchBytes(url, { 'accept-encoding': '*' });
    expect(wildcard.headers['content-encoding']).toBe('br');
    // Only a .gz beside style.css.
    const css = await fetchBytes(`${unicorn.url()}/s/style.css`, { 'accept-encoding': 'br, gzip' });
    expect([css.headers['content-encoding'], css.headers['content-type']]).toEqual(['gzip', 'text/css; charset=utf-8']);
    // The compressed variant has its own validator.
    const again = await fetchBytes(url, { 'accept-encoding': 'br', 'if-none-match': br.headers.etag! });
    expect([again.status, again.headers.vary, again.headers.etag]).toEqual([304, 'Accept-Encoding', br.headers.etag]);
    const plainAgain = await fetchBytes(url, { 'accept-encoding': 'br', 'if-none-match': (await fetchBytes(url)).headers.etag! });
    expect([plainAgain.status, plainAgain.headers['content-encoding']]).toEqual([200, 'br']);
    const range = await fetchBytes(url, { 'accept-encoding': 'br', range: 'bytes=0-6' });
    expect([range.status, range.headers['content-encoding'], range.body.toString()]).toEqual([206, undefined, 'console']);
    const head = await fetchBytes(url, { 'accept-encoding': 'br' }, 'HEAD');
    expect([head.headers['content-length'], head.body.length]).toEqual([String(br.body.length), 0]);

    const off = await serveStatic(['--no-static-precompressed']);
    const plain = await fetchBytes(`${off.url()}/s/assets/app.3f9a.js`, { 'accept-encoding': 'br, gzip' });
    expect([plain.headers['content-encoding'], plain.headers.vary, plain.body.toString()]).toEqual([undefined, undefined, APP_JS]);
  });

  it('--static-max-age sets Cache-Control; --static-immutable gives matching names a year, immutable', async () => {
    const unicorn = await serveStatic(['--static-max-age', '1h', '--static-immutable', '^assets/']);
    const hello = await request(`${unicorn.url()}/s/hello.txt`);
    expect(hello.headers['cache-control']).toBe('public, max-age=3600');
    const hashed = await fetchBytes(`${unicorn.url()}/s/assets/app.3f9a.js`, { 'accept-encoding': 'br' });
    expect(hashed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const revalidated = await request(`${unicorn.url()}/s/hello.txt`, { headers: { 'if-none-match': hello.headers.etag! } });
    expect([revalidated.status, revalidated.headers['cache-control']]).toEqual([304, 'public, max-age=3600']);
  });

  it('refuses an invalid --static-immutable, and a directory it cannot read fails the boot naming it', async () => {
    const bad = await runToExit(['-b', '127.0.0.1:0', '--static', `/s=${PUB}`, '--static-immutable', 'assets/(', URL_ECHO]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--static-immutable "assets\/\(" is not accepted: expected a JavaScript regular expression \(.*Unterminated group/,
    );
    const locked = path.join(root, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o700);
    // Checked by the arbiter (root) when the settings are read; opened by the worker, which is nobody.
    const unreadable = await runToExit(['-b', '127.0.0.1:0', '--user', String(NOBODY), '--static', `/s=${locked}`, URL_ECHO]);
    expect(unreadable.code).toBe(4);
    const failure = unreadable.unicorn.bootFailures();
    expect(failure.map((l) => [l.code, l.msg])).toEqual([
      ['UNICORN_STATIC_DIR_UNREADABLE', `cannot serve the static directory ${JSON.stringify(locked)} at /s: EACCES: permission denied`],
    ]);
  });
});

describe('big files, worker classes, HTTP/2 and the access log', () => {
  it('a 10 MB file to a reader that stops reading: other requests are answered meanwhile, and the file arrives whole', async () => {
    const unicorn = await serveStatic();
    const socket = connect(unicorn.url());
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write('GET /s/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(socket, 'data');
    socket.pause();
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const reply = await request(`${unicorn.url()}/s/hello.txt`, { timeoutMs: 5_000 }).catch((err: Error) => ({
        status: err.message,
        body: '',
      }));
      if (reply.status !== 200 || reply.body !== HELLO) failures.push(String(reply.status));
    }
    expect(failures).toEqual([]);
    socket.resume();
    await once(socket, 'end');
    const reply = Buffer.concat(chunks);
    const bodyStart = reply.indexOf('\r\n\r\n') + 4;
    expect(reply.subarray(0, bodyStart).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 10485760\r\n/i);
    expect(sha(reply.subarray(bodyStart))).toBe(sha(BIG));
  });

  it.each(['sync', 'async'])('%s: clients that leave as their big files open cost no worker', async (workerClass) => {
    const unicorn = await serveStatic([], workerClass);
    const before = unicorn.workerPids();
    for (let round = 0; round < 10; round++) {
      const sockets = Array.from({ length: 10 }, () => connect(unicorn.url()));
      for (const socket of sockets) socket.write('GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n', () => socket.destroy());
      await Promise.all(sockets.map((socket) => (socket.destroyed ? undefined : once(socket, 'close'))));
      // The worker is still opening this round's files, answering no one: a crash would come now.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await request(`${unicorn.url()}/s/hello.txt`)).body).toBe(HELLO);
    expect(unicorn.lines('Uncaught exception')).toEqual([]);
    expect(unicorn.workerPids()).toEqual(before);
  });

  it('the sync worker counts each static answer as its request (--max-requests)', async () => {
    const unicorn = await serveStatic(['--max-requests', '3'], 'sync');
    const bodies: string[] = [];
    for (const target of ['/s/hello.txt', '/s/sub/', '/s/assets/app.3f9a.js'])
      bodies.push((await request(`${unicorn.url()}${target}`)).body);
    expect(bodies).toEqual([HELLO, '<h1>sub</h1>\n', APP_JS]);
    const retired = await unicorn.waitForLog((l) => l.msg.includes('reached --max-requests 3'), 'the worker retiring');
    expect(retired.requests).toBe(3);
  });

  it('a big download holds the one sync slot until it is read', async () => {
    const unicorn = await serveStatic([], 'sync');
    const socket = connect(unicorn.url());
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.write('GET /s/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(socket, 'data');
    socket.pause();
    let answered = false;
    const next = request(`${unicorn.url()}/s/hello.txt`).then((reply) => {
      answered = true;
      return reply;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(answered).toBe(false);
    socket.resume();
    await once(socket, 'end');
    expect(received).toBeGreaterThan(HUGE_BYTES);
    expect((await next).body).toBe(HELLO);
  });

  const certificate = localhostCertificate('unicorn-static-tls-');
  it('HTTP/2 streams cancelled while their big files open leave no file open in the worker', async () => {
    const unicorn = await serveStatic(['--http2', '--certfile', certificate.cert, '--keyfile', certificate.key]);
    const [worker] = unicorn.workerPids();
    const session = http2.connect(unicorn.addresses()[0]!.replace('127.0.0.1', 'localhost'), { ca: certificate.ca });
    const openOnBig = () =>
      readdirSync(`/proc/${worker}/fd`).filter((fd) => {
        try {
          return readlinkSync(`/proc/${worker}/fd/${fd}`).endsWith('big.bin');
        } catch {
          return false;
        }
      }).length;
    try {
      for (let round = 0; round < 5; round++) {
        const streams = Array.from({ length: 40 }, (_, i) => {
          const stream = session.request({ ':path': '/s/big.bin' });
          stream.on('error', () => {});
          // Spread over the moments the worker stats, opens and starts to send the file.
          setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), (i * 0.15) % 6);
          return once(stream, 'close');
        });
        await Promise.all(streams);
      }
      // The files of streams the worker was still reading when they closed are closed a moment later.
      const deadline = Date.now() + 5_000;
      while (openOnBig() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(openOnBig()).toBe(0);
    } finally {
      session.close();
    }
  });

  it('serves files over HTTP/2', async () => {
    const unicorn = await serveStatic(['--http2', '--certfile', certificate.cert, '--keyfile', certificate.key]);
    const base = unicorn.addresses()[0]!.replace('127.0.0.1', 'localhost');
    const session = http2.connect(base, { ca: certificate.ca });
    try {
      const get = (headers: http2.OutgoingHttpHeaders) =>
        new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
          const stream = session.request(headers);
          const chunks: Buffer[] = [];
          let reply: http2.IncomingHttpHeaders = {};
          stream.on('response', (h) => (reply = h));
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => resolve({ headers: reply, body: Buffer.concat(chunks) }));
          stream.on('error', reject);
          stream.end();
        });
      const file = await get({ ':path': '/s/hello.txt' });
      expect([file.headers[':status'], file.headers['content-type'], file.body.toString()]).toEqual([
        200,
        'text/plain; charset=utf-8',
        HELLO,
      ]);
      const again = await get({ ':path': '/s/hello.txt', 'if-none-match': file.headers.etag as string });
      expect(again.headers[':status']).toBe(304);
      const br = await get({ ':path': '/s/assets/app.3f9a.js', 'accept-encoding': 'br' });
      expect([br.headers['content-encoding'], brotliDecompressSync(br.body).toString()]).toEqual(['br', APP_JS]);
      const big = await get({ ':path': '/s/big.bin' });
      expect(sha(big.body)).toBe(sha(BIG));
      const hostile = await get({ ':path': '/s/%2e%2e/outside/secret.txt' });
      expect(hostile.headers[':status']).toBe(403);
    } finally {
      session.destroy();
    }
  });

  it('the access log has a line for each, with its status and bytes', async () => {
    const file = path.join(root, 'access.log');
    const unicorn = await serveStatic(['--access-logfile', file, '--access-logformat', 'json']);
    const base = unicorn.url();
    const full = await request(`${base}/s/hello.txt`);
    await request(`${base}/s/hello.txt`, { headers: { 'if-none-match': full.headers.etag! } });
    await request(`${base}/s/hello.txt`, { headers: { range: 'bytes=0-9' } });
    await request(`${base}/s/big.bin`);
    await exchange(base, 'GET /s/%2e%2e/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const lines = (await waitForLines(file, 5)).map((line) => JSON.parse(line) as { url: string; status: number; bytes: number });
    expect(lines.map(({ url, status, bytes }) => [url, status, bytes])).toEqual([
      ['/s/hello.txt', 200, HELLO.length],
      ['/s/hello.txt', 304, 0],
      ['/s/hello.txt', 206, 10],
      ['/s/big.bin', 200, BIG.length],
      ['/s/%2e%2e/x', 403, 'Forbidden\n'.length],
    ]);
  });
});
