import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ctl } from '../helpers/ctl';
import { inFlight, request } from '../helpers/http';
import { Load } from '../helpers/load';
import { exchange } from '../helpers/raw';
import { APPS, ROOT, runToExit, serve, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const FAILING_HOOKS = path.join(ROOT, 'test', 'fixtures', 'config', 'failing-hooks.mjs');
/** `[21/Nov/2026:02:42:25 +0000]` */
const CLF_TIME = String.raw`\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]`;

const logFile = () => path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-access-')), 'access.log');

function readLines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/**
 * Wait until `file` holds at least `count` lines. Writing a file gives no event, and lines reach it
 * within a quarter of a second of their request: polled briefly, with a bound that only catches
 * hangs (as waitUntilGone polls /proc).
 */
async function waitForLines(file: string, count: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLines(file);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`expected ${count} lines in ${file}, found ${lines.length}:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Stop gracefully and wait for the exit: every line is written by then. */
async function stopped(unicorn: Unicorn): Promise<void> {
  unicorn.signal('SIGTERM');
  expect(await unicorn.exited).toEqual({ code: 0, signal: null });
}

/** What a raw connection gets back for `bytes` (sent, then the sending side closed unless
 *  `halfClose` is false), to its close. */
async function rawExchange(url: string, bytes: string, halfClose = true): Promise<string> {
  const { reply, closed, reset } = await exchange(url, bytes, 10_000, { halfClose });
  expect({ closed, reset }).toEqual({ closed: true, reset: false });
  return reply;
}

describe('access log atoms', () => {
  // One GET and one HEAD, logged with every atom separated by tabs (values are escaped, so a tab
  // can only be a separator); each atom is then checked on its own against what was sent.
  const ATOMS = ['h', 'l', 'u', 't', 'r', 'm', 'U', 'q', 'H', 's', 'B', 'b', 'f', 'a', 'T', 'M', 'D', 'L', 'p'];
  const HEADER_ATOMS = ['{x-request-id}i', '{X-Request-Id}i', '{x-absent}i', '{content-type}o', '{x-absent}o'];
  const format = [...ATOMS, ...HEADER_ATOMS].map((atom) => `%(${atom})s`).join('\t');
  let get: Record<string, string>;
  let head: Record<string, string>;
  let sentAt: number;
  let receivedAt: number;
  let body: string;

  beforeAll(async () => {
    const file = logFile();
    // A zone with a half-hour offset shows that minutes are kept in %(t)s.
    const unicorn = await serve(ROUTES, ['--access-logfile', file, '--access-logformat', format], { env: { TZ: 'Asia/Kolkata' } });
    sentAt = Date.now();
    const reply = await request(`${unicorn.url()}/hold?ms=300&x=%22y`, {
      headers: {
        'user-agent': 'agent/1.0 "quoted"',
        referer: 'http://ref.example/page',
        authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
        'x-request-id': 'abc123',
      },
    });
    receivedAt = Date.now();
    body = reply.body;
    await request(`${unicorn.url()}/`, { method: 'HEAD' });
    const lines = await waitForLines(file, 2);
    const parse = (line: string) => Object.fromEntries(line.split('\t').map((value, i) => [[...ATOMS, ...HEADER_ATOMS][i], value]));
    [get, head] = [lines.map(parse).find((l) => l.m === 'GET')!, lines.map(parse).find((l) => l.m === 'HEAD')!];
  });

  /** The CLF date of `epochMs` at +05:30, computed apart from the code under test. */
  const kolkata = (epochMs: number) => {
    const d = new Date(Math.floor(epochMs / 1000) * 1000 + 330 * 60_000);
    const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
    const p = (n: number) => String(n).padStart(2, '0');
    return `[${p(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0530]`;
  };

  it.each([
    ['h', 'remote address', '127.0.0.1'],
    ['l', "always '-'", '-'],
    ['u', 'user name from Basic auth', 'alice'],
    ['r', 'request line, escaped', 'GET /hold?ms=300&x=%22y HTTP/1.1'],
    ['m', 'method', 'GET'],
    ['U', 'path without the query', '/hold'],
    ['q', 'query string', 'ms=300&x=%22y'],
    ['H', 'protocol', 'HTTP/1.1'],
    ['s', 'status', '200'],
    ['f', 'referer', 'http://ref.example/page'],
    ['a', 'user agent, quotes escaped', String.raw`agent/1.0 \"quoted\"`],
    ['T', 'whole seconds', '0'],
    ['{x-request-id}i', 'a request header', 'abc123'],
    ['{X-Request-Id}i', 'a request header named in any case', 'abc123'],
    ['{x-absent}i', 'a request header not sent', '-'],
    ['{content-type}o', 'a response header given to writeHead', 'text/plain'],
    ['{x-absent}o', 'a response header not set', '-'],
  ])('%%(%s)s: %s', (atom, _meaning, expected) => {
    expect(get[atom]).toBe(expected);
  });

  it('%(t)s: when the request arrived, in local time with the zone offset', () => {
    const candidates = new Set<string>();
    for (let at = sentAt - 1000; at <= receivedAt; at += 250) candidates.add(kolkata(at));
    expect(get.t).toMatch(new RegExp(`^${CLF_TIME}$`));
    expect([...candidates]).toContain(get.t);
  });

  it('%(B)s and %(b)s: body bytes; b is - when there were none (a HEAD)', () => {
    expect(get.B).toBe(String(Buffer.byteLength(body)));
    expect(get.b).toBe(get.B);
    expect(head).toMatchObject({ B: '0', b: '-' });
  });

  it('%(M)s, %(D)s, %(L)s: the duration in milliseconds, microseconds and decimal seconds', () => {
    const micros = Number(get.D);
    expect(Number(get.M)).toBeGreaterThanOrEqual(300);
    expect(Number(get.M)).toBeLessThan(5000);
    expect(get.M).toBe(String(Math.floor(micros / 1000)));
    expect(get.L).toBe(`${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`);
  });

  it('%(p)s: the worker pid, as <pid>', () => {
    expect(get.p).toBe(`<${/held (\d+)/.exec(body)![1]}>`);
  });

  it('a request with no query, user, referer or body, and a header set with setHeader', () => {
    expect(head).toMatchObject({ q: '', u: '-', f: '-', s: '200', '{content-type}o': 'text/plain', '{x-request-id}i': '-' });
  });
});

describe('access log', () => {
  it('writes the default format in exactly the shape Gunicorn does', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['--access-logfile', file]);
    const reply = await request(`${unicorn.url()}/some/path?q=1`, { headers: { 'user-agent': 'test-agent/2' } });
    const [line] = await waitForLines(file, 1);
    const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const length = Buffer.byteLength(reply.body);
    expect(line).toMatch(
      new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} ${escaped(`"GET /some/path?q=1 HTTP/1.1" 200 ${length} "-" "test-agent/2"`)}$`),
    );
  });

  it('names the mount that served each request (%(mount)s), a 404 for no mount as -, and ctl status counts them by mount', async () => {
    const file = logFile();
    const socket = path.join(path.dirname(file), 'ctl.sock');
    const unicorn = start([
      '-b',
      '127.0.0.1:0',
      '-w',
      '2',
      '--mount',
      `/api=${ROUTES}`,
      '--mount',
      `/edge=${path.join(APPS, 'url-echo.mjs')}`,
      '--access-logfile',
      file,
      '--access-logformat',
      '%(mount)s %(s)s %(U)s',
      '--control-socket',
      socket,
    ]);
    await unicorn.ready(2);
    for (const target of ['/api/status?code=201', '/edge/x', '/api', '/apis', '/']) await request(`${unicorn.url()}${target}`);
    expect((await waitForLines(file, 5)).sort()).toEqual([
      '- 404 /',
      '- 404 /apis',
      '/api 200 /api',
      '/api 201 /api/status',
      '/edge 200 /edge/x',
    ]);
    const status = await ctl(['--socket', socket, 'status']);
    expect(status.stdout.split('\n')).toContain('Requests by mount: /api 2, /edge 1');
  });

  it('logs the request as it arrived, though the app rewrote req.url (an Express router mounted on a path)', async () => {
    const file = logFile();
    const unicorn = await serve(`${path.join(APPS, 'express-app.js')}:app`, [
      '--access-logfile',
      file,
      '--access-logformat',
      '"%(r)s" %(U)s %(q)s %(s)s',
    ]);
    expect((await request(`${unicorn.url()}/api/v1/items/42?full=1`)).body).toBe('item 42\n');
    expect(await waitForLines(file, 1)).toEqual(['"GET /api/v1/items/42?full=1 HTTP/1.1" /api/v1/items/42 full=1 200']);
  });

  it('json: one object per request with the request, response and timing fields', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['-k', 'async', '--access-logfile', file, '--access-logformat', 'json']);
    const before = Date.now();
    const reply = await request(`${unicorn.url()}/status?code=201`, {
      headers: { 'user-agent': 'ua "1"', authorization: `Basic ${Buffer.from('bob:pw').toString('base64')}` },
    });
    const [line] = await waitForLines(file, 1);
    const entry = JSON.parse(line!) as Record<string, unknown>;
    expect(entry).toEqual({
      time: expect.any(String),
      pid: unicorn.workerPids()[0],
      remoteAddr: '127.0.0.1',
      user: 'bob',
      method: 'GET',
      url: '/status?code=201',
      protocol: 'HTTP/1.1',
      status: 201,
      bytes: Buffer.byteLength(reply.body),
      durationMs: expect.any(Number),
      referer: null,
      userAgent: 'ua "1"',
      mount: '/',
      aborted: false,
    });
    expect(Date.parse(entry.time as string)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(entry.time as string)).toBeLessThanOrEqual(Date.now());
  });

  it('logs each failed request once: the app throwing or rejecting, a preRequest hook failing, a failure after the headers', async () => {
    const file = logFile();
    const unicorn = start(['-c', FAILING_HOOKS, '-b', '127.0.0.1:0', '--access-logfile', file]);
    await unicorn.ready(1);
    for (const url of ['/throw', '/reject', '/reject-me', '/reject-me-later'])
      expect((await request(`${unicorn.url()}${url}`)).status).toBe(500);
    expect(await inFlight(`${unicorn.url()}/throw-after-headers`).reply).toEqual({ error: expect.any(String) });
    await stopped(unicorn);
    const lines = readLines(file);
    expect(lines.map((line) => /"GET (\S+) HTTP\/1\.1" (\d+) (\S+)/.exec(line)!.slice(1).join(' ')).sort()).toEqual([
      '/reject 500 22',
      '/reject-me 500 22',
      '/reject-me-later 500 22',
      '/throw 500 22',
      // Headers and 'partial' were written; then the connection was cut.
      '/throw-after-headers 200 7',
    ]);
  });

  it('logs a request whose client went away once, marked: 499 before the response began, aborted in json', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['-k', 'async', '--access-logfile', file, '--access-logformat', 'json']);
    const controller = new AbortController();
    const slow = fetch(`${unicorn.url()}/slow?ms=400`, { signal: controller.signal }).catch(() => 'aborted');
    await unicorn.waitForOutput('slow started');
    controller.abort();
    expect(await slow).toBe('aborted');
    // Headers sent, body pending: the status stands, and the line says it was cut short.
    const held = new AbortController();
    const reply = await fetch(`${unicorn.url()}/hold?ms=5000`, { signal: held.signal });
    expect(reply.status).toBe(200);
    held.abort();
    await waitForLines(file, 2);
    await stopped(unicorn);
    const entries = readLines(file).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map(({ url, status, bytes, aborted }) => ({ url, status, bytes, aborted }))).toEqual([
      { url: '/slow?ms=400', status: 499, bytes: 0, aborted: true },
      { url: '/hold?ms=5000', status: 200, bytes: 0, aborted: true },
    ]);
  });

  it('sync: a request pipelined behind one whose response closed the connection is not run, and is logged as never answered', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['--access-logfile', file]);
    // The sync worker answers with Connection: close, so the second request can get no answer.
    const reply = await rawExchange(
      unicorn.url(),
      'GET /hold?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n',
      false,
    );
    expect(reply.match(/^HTTP\/1\.1 \d+/gm)).toEqual(['HTTP/1.1 200']);
    await stopped(unicorn);
    expect(unicorn.stdout).not.toContain('slow started');
    expect(readLines(file).map((line) => /"(GET \S+) HTTP\/1\.1" (\d+)/.exec(line)!.slice(1).join(' '))).toEqual([
      'GET /hold?ms=100 200',
      'GET /slow?ms=0 499',
    ]);
  });

  it('async: a long pipeline on one connection is answered in order and logged, with no listener piling up on the socket', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['-k', 'async', '--access-logfile', file]);
    // The last one ends the connection once answered.
    const pipeline = Array.from(
      { length: 15 },
      (_, i) => `GET /slow?ms=20&n=${i} HTTP/1.1\r\nHost: x\r\n${i === 14 ? 'Connection: close\r\n' : ''}\r\n`,
    ).join('');
    const reply = await rawExchange(unicorn.url(), pipeline, false);
    expect(reply.match(/^HTTP\/1\.1 \d+/gm)).toEqual(Array(15).fill('HTTP/1.1 200'));
    await stopped(unicorn);
    expect(readLines(file).map((line) => /n=(\d+)/.exec(line)![1])).toEqual(Array.from({ length: 15 }, (_, i) => String(i)));
    expect(unicorn.stderr).not.toMatch(/MaxListenersExceeded/);
  });

  it("logs what Node's parser rejects, answering as Node does", async () => {
    const file = logFile();
    // Limits small enough that the 20 KB header passes the whole header budget, which the parser
    // itself enforces (docs/security.md).
    const unicorn = await serve(ROUTES, ['--access-logfile', file, '--limit-request-fields', '2', '--limit-request-field-size', '1K']);
    expect(await rawExchange(unicorn.url(), 'GARBAGE\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    const huge = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    expect(await rawExchange(unicorn.url(), huge)).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
    // A connection that closes without a word is no request.
    expect(await rawExchange(unicorn.url(), '')).toBe('');
    await stopped(unicorn);
    expect(readLines(file)).toEqual([
      expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "-" 400 - "-" "-"$`)),
      expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "-" 431 - "-" "-"$`)),
    ]);
  });

  it.each([[[]], [['--capture-output']]])("'-' writes to unicorn's stdout (%j)", async (extra) => {
    const unicorn = await serve(ROUTES, ['--access-logfile', '-', ...extra]);
    await request(`${unicorn.url()}/to-stdout`);
    await unicorn.waitForOutput('"GET /to-stdout HTTP/1.1" 200');
    // With --capture-output the worker's own stdout goes to the error log: the access log does not.
    expect(unicorn.stderr).not.toContain('to-stdout');
  });

  it.each([
    [
      '%(h)s %(x)s',
      'unknown atom %(x)s; the atoms are %(h)s %(l)s %(u)s %(t)s %(r)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s %(f)s %(a)s %(T)s %(M)s %(D)s %(L)s %(mount)s %(p)s %({header}i)s %({header}o)s, and %% is a percent sign',
    ],
    ['%(h)s %({bad header}i)s', 'unknown atom %({bad header}i)s; the atoms are'],
    ['%(s)d', '%(s) must be followed by s, as in %(s)s (every atom is text)'],
    ['100% %(h)s', 'the % at character 4 starts no atom; write atoms as %(h)s, and a percent sign as %%'],
    ['%(h', 'the atom at character 1 has no closing parenthesis'],
  ])('refuses the format %j before binding anything (exit 2)', async (format, why) => {
    const { code, stderr, unicorn } = await runToExit(['-b', '127.0.0.1:0', '--access-logformat', format, ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `unicorn: error: --access-logformat ${JSON.stringify(format)} is not accepted: expected a format of %(…)s atoms, or json (${why}`,
    );
    expect(unicorn.lines('Listening at')).toEqual([]);
  });

  it('refuses a log file it cannot write before binding anything (exit 2)', async () => {
    const dir = path.dirname(logFile());
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '--access-logfile', dir, ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `unicorn: error: --access-logfile ${JSON.stringify(dir)} is not accepted: expected a writable file path in an existing directory, or - (a directory: ${dir})`,
    );
  });
});

describe('no access-log line is lost', () => {
  /** Every line well formed, and as many as the requests that got an answer. */
  function expectOneLinePerRequest(lines: string[], requests: number): void {
    const malformed = lines.filter(
      (line) => !new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "GET /(hold\\?ms=\\d+)? HTTP/1\\.1" 200 \\d+ "-" "-"$`).test(line),
    );
    expect(malformed).toEqual([]);
    expect(lines).toHaveLength(requests);
  }

  it('across a HUP reload and a USR1 after logrotate renamed the file', async () => {
    const file = logFile();
    const rotated = `${file}.1`;
    const unicorn = await serve(ROUTES, ['-k', 'async', '--access-logfile', file], { workers: 2 });
    const load = await Load.start(unicorn.url(), { keepAlive: true, concurrency: 8, pauseMs: 0 });
    await load.flowing();
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    await load.flowing();
    renameSync(file, rotated);
    unicorn.signal('SIGUSR1');
    // The new file is created and written to, by the new workers, after the rename.
    await waitForLines(file, 1);
    await load.flowing();
    const counts = await load.stop();
    await stopped(unicorn);
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    const [before, after] = [readLines(rotated), readLines(file)];
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expectOneLinePerRequest([...before, ...after], counts.ok);
  });

  it('when workers are recycled by --max-requests', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['-k', 'async', '--max-requests', '60', '--access-logfile', file], { workers: 2 });
    const load = await Load.start(unicorn.url(), { keepAlive: true, concurrency: 8, pauseMs: 0 });
    await unicorn.waitForLog(() => unicorn.logs.filter((l) => l.reason === 'replaced').length >= 3, 'three recycled workers');
    const counts = await load.stop();
    await stopped(unicorn);
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    expectOneLinePerRequest(readLines(file), counts.ok);
  });

  it('on a graceful stop, with a request in flight', async () => {
    const file = logFile();
    const unicorn = await serve(ROUTES, ['--access-logfile', file], { workers: 2 });
    const load = await Load.start(unicorn.url(), { keepAlive: false, concurrency: 8, pauseMs: 0 });
    await load.flowing();
    const held = inFlight(`${unicorn.url()}/hold?ms=500`);
    await held.handling;
    await stopped(unicorn);
    expect(await held.reply).toMatchObject({ status: 200 });
    const counts = await load.stop();
    // Requests sent after the stop are refused or reset before any worker read them: no line.
    expectOneLinePerRequest(readLines(file), counts.ok + 1);
  });
});
