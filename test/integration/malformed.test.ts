/**
 * Malformed and ambiguous requests (docs/security.md): request smuggling shapes, bad characters,
 * bare line feeds, folded lines, versions other than HTTP/1.x, Host trouble, targets out of place,
 * CONNECT. Each is sent alone on its own connection, in one packet; each must be answered with its
 * status and its connection closed, and none may reach the app (test/fixtures/apps/recorder.js says
 * what it was handed). The same worker then serves on, and the access log has one line for each.
 *
 * Then what looks odd and must be served (Gunicorn's corpus has each): bytes after a request that
 * ends its connection, an empty Host, `OPTIONS *`, absolute-form targets.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, exchange, responses, seenByApp } from '../helpers/raw';
import { APPS, serve } from '../helpers/unicorn';

const RECORDER = path.join(APPS, 'recorder.js');
const ROUTES = path.join(APPS, 'routes.js');
const head = (lines: string) => `${lines.replaceAll('\n', '\r\n')}\r\n\r\n`;
const post = (headers: string, body: string) => `POST /x HTTP/1.1\r\nHost: x\r\n${headers.replaceAll('\n', '\r\n')}\r\n\r\n${body}`;
const chunked = (body: string) => post('Transfer-Encoding: chunked', body);

/** [what, the bytes, the status it must be answered with] */
const CORPUS: Array<[string, string, number]> = [
  // Request smuggling: two ways to frame one body, or a frame in doubt.
  ['Content-Length and Transfer-Encoding (CL.TE)', post('Content-Length: 6\nTransfer-Encoding: chunked', '0\r\n\r\nG'), 400],
  [
    'Transfer-Encoding and Content-Length (TE.CL)',
    post('Transfer-Encoding: chunked\nContent-Length: 3', '8\r\nSMUGGLED\r\n0\r\n\r\n'),
    400,
  ],
  ['two equal Content-Lengths', post('Content-Length: 1\nContent-Length: 1', 'x'), 400],
  ['two different Content-Lengths', post('Content-Length: 1\nContent-Length: 2', 'xx'), 400],
  ['a Content-Length list', post('Content-Length: 1, 1', 'x'), 400],
  ['a signed Content-Length', post('Content-Length: +1', 'x'), 400],
  ['a negative Content-Length', post('Content-Length: -1', ''), 400],
  ['a hexadecimal Content-Length', post('Content-Length: 0x1', 'x'), 400],
  ['a Content-Length with a space inside', post('Content-Length: 1 2', 'x'), 400],
  ['a Content-Length past 2^64', post('Content-Length: 99999999999999999999999', ''), 400],
  ['chunked not last in Transfer-Encoding', post('Transfer-Encoding: chunked, gzip', '0\r\n\r\n'), 400],
  ['Transfer-Encoding without chunked', post('Transfer-Encoding: gzip', 'abc'), 400],
  ['Transfer-Encoding: xchunked', post('Transfer-Encoding: xchunked', '0\r\n\r\n'), 400],
  ['two Transfer-Encodings', post('Transfer-Encoding: chunked\nTransfer-Encoding: chunked', '0\r\n\r\n'), 400],
  ['a space before the colon of Transfer-Encoding', post('Transfer-Encoding : chunked', '0\r\n\r\n'), 400],
  ['a vertical tab before chunked', post('Transfer-Encoding:\x0bchunked', '0\r\n\r\n'), 400],
  ['Transfer-Encoding in HTTP/1.0', 'POST /x HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['a chunk size that is not hexadecimal', chunked('zz\r\nabc\r\n0\r\n\r\n'), 400],
  ['a negative chunk size', chunked('-1\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk size past 2^64', chunked('fffffffffffffffff1\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk size ended by a bare LF', chunked('3\nabc\r\n0\r\n\r\n'), 400],
  ['chunk data longer than its size', chunked('3\r\nabcX0\r\n\r\n'), 400],
  ['a control character in a chunk extension', chunked('3;\x01\r\nabc\r\n0\r\n\r\n'), 400],
  ['a bad trailer field', chunked('0\r\nX Y: z\r\n\r\n'), 400],
  ['a good request, then a bad one in the same packet', `GET /good HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n`, 400],
  // Characters the grammar has no room for.
  ['a parenthesis in the method', head('G(T / HTTP/1.1\nHost: x'), 400],
  ['a lower-case method', head('get / HTTP/1.1\nHost: x'), 400],
  ['a method Node does not know', head('FOO / HTTP/1.1\nHost: x'), 400],
  ['a space in the target', head('GET /a b HTTP/1.1\nHost: x'), 400],
  ['a control character in the target', head('GET /a\x01b HTTP/1.1\nHost: x'), 400],
  ['DEL in the target', head('GET /a\x7fb HTTP/1.1\nHost: x'), 400],
  ['a byte over 0x7f in the target', head('GET /a\xffb HTTP/1.1\nHost: x'), 400],
  ['a tab in the target', head('GET /a\tb HTTP/1.1\nHost: x'), 400],
  ['NUL in the target', head('GET /a\x00b HTTP/1.1\nHost: x'), 400],
  ['no target', head('GET  HTTP/1.1\nHost: x'), 400],
  ['a space in a header name', head('GET / HTTP/1.1\nHost: x\nX Y: z'), 400],
  ['a parenthesis in a header name', head('GET / HTTP/1.1\nHost: x\nX(Y): z'), 400],
  ['an empty header name', head('GET / HTTP/1.1\nHost: x\n: z'), 400],
  ['a header line without a colon', head('GET / HTTP/1.1\nHost: x\nXYZ'), 400],
  ['NUL in a header value', head('GET / HTTP/1.1\nHost: x\nX: a\x00b'), 400],
  ['a control character in a header value', head('GET / HTTP/1.1\nHost: x\nX: a\x01b'), 400],
  ['a bare CR in a header value', head('GET / HTTP/1.1\nHost: x\nX: a\rb'), 400],
  // Line endings and folding.
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: x\n\n', 400],
  ['a header line ended by a bare LF', 'GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n', 400],
  ['a head ended by a bare LF', 'GET / HTTP/1.1\r\nHost: x\r\n\n', 400],
  ['a request line ended by a bare CR', 'GET / HTTP/1.1\rHost: x\r\n\r\n', 400],
  ['an obsolete line folding (space)', head('GET / HTTP/1.1\nHost: x\nX: a\n b'), 400],
  ['an obsolete line folding (tab)', head('GET / HTTP/1.1\nHost: x\nX: a\n\tb'), 400],
  ['whitespace before the first header', head('GET / HTTP/1.1\n Host: x'), 400],
  // Versions.
  ['HTTP/0.9', 'GET /\r\n\r\n', 400],
  ['a version that is not a number', head('GET / HTTP/1.x\nHost: x'), 400],
  ['a lower-case version', head('GET / http/1.1\nHost: x'), 400],
  ['HTTP/1.3', head('GET / HTTP/1.3\nHost: x'), 400],
  ['an HTTP/2.0 request line', head('GET / HTTP/2.0\nHost: x'), 505],
  ["HTTP/2's preface, without TLS", 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
  ['TLS where HTTP was expected', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03', 400],
  // Host.
  ['no Host in HTTP/1.1', head('GET / HTTP/1.1'), 400],
  ['two Hosts', head('GET / HTTP/1.1\nHost: a\nHost: b'), 400],
  ['a Host with a space', head('GET / HTTP/1.1\nHost: a b'), 400],
  ['a Host with a path', head('GET / HTTP/1.1\nHost: example.com/admin?'), 400],
  [
    'two Content-Types',
    head('POST /x HTTP/1.1\nHost: x\nContent-Type: text/plain\nContent-Type: application/json\nContent-Length: 0'),
    400,
  ],
  // Request targets: `*` is for OPTIONS alone, and an absolute-form target names the host as Host does.
  ['* as the target of a GET', head('GET * HTTP/1.1\nHost: x'), 400],
  ['a target that starts with * and goes on', head('OPTIONS *x HTTP/1.1\nHost: x'), 400],
  ['an absolute-form target with no host', head('GET http:///x HTTP/1.1\nHost: x'), 400],
  ['an absolute-form target with userinfo', head('GET http://user:pass@a.example/ HTTP/1.1\nHost: a.example'), 400],
  ['an absolute-form target whose authority is no host', head('GET http://a,b/ HTTP/1.1\nHost: x'), 400],
  // A tunnel, which only a proxy makes.
  ['CONNECT', head('CONNECT a.example:443 HTTP/1.1\nHost: a.example:443'), 501],
];

describe.each(['sync', 'async'] as const)('malformed requests with -k %s', (workerClass) => {
  const answers: Array<{ status: number | undefined; connection: string | undefined; closed: boolean }> = [];
  let before: { pid: number; seen: string[] };
  let after: { pid: number; seen: string[] };
  let workerPids: { before: number[]; after: number[] };
  let logLines: string[] = [];

  beforeAll(async () => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-malformed-')), 'access.log');
    const unicorn = await serve(RECORDER, ['-k', workerClass, '--access-logfile', log, '--access-logformat', '%(s)s']);
    before = await seenByApp(unicorn.url());
    const pids = unicorn.workerPids();
    for (const [, bytes] of CORPUS) {
      const { reply, closed } = await exchange(unicorn.url(), bytes);
      const [response] = responses(reply);
      answers.push({ status: response?.status, connection: response?.headers.connection, closed });
    }
    after = await seenByApp(unicorn.url());
    workerPids = { before: pids, after: unicorn.workerPids() };
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    logLines = readFileSync(log, 'utf8').trimEnd().split('\n');
  }, 30_000);

  it.each(CORPUS.map(([what, , status], i) => [what, status, i] as const))(
    'answers %s with %d and closes the connection',
    (_, status, i) => {
      expect(answers[i]).toEqual({ status, connection: 'close', closed: true });
    },
  );

  it('hands the app none of them, and the same worker serves on', () => {
    expect(before.seen).toEqual([]);
    expect(after).toEqual({ pid: before.pid, seen: [] });
    expect(workerPids.after).toEqual(workerPids.before);
  });

  it('logs each once, with its status', () => {
    expect(logLines).toEqual(['200', ...CORPUS.map(([, , status]) => String(status)), '200']);
  });
});

/** [what, the bytes, the request the app must be handed, once, and the body bytes it must read] */
const SERVED: Array<[string, string, string, number]> = [
  // The bytes after a request that ends its connection are not a request: they are thrown away.
  [
    'a request with Connection: close, then another',
    `GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n${head('GET /second HTTP/1.1\nHost: x')}`,
    'GET /first',
    0,
  ],
  [
    'a request with Connection: close, then garbage',
    'GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n',
    'GET /first',
    0,
  ],
  ['a body with Connection: close, then more bytes than it has', post('Connection: close\nContent-Length: 3', 'abcdef'), 'POST /x', 3],
  ['an HTTP/1.0 request, then another', `GET /first HTTP/1.0\r\n\r\n${head('GET /second HTTP/1.1\nHost: x')}`, 'GET /first', 0],
  // An empty Host says the target has no authority (RFC 9112, 3.2).
  ['an empty Host', head('GET /empty HTTP/1.1\nHost:\nConnection: close'), 'GET /empty', 0],
  ['OPTIONS *', head('OPTIONS * HTTP/1.1\nHost: x\nConnection: close'), 'OPTIONS *', 0],
  [
    'an absolute-form target',
    head('GET http://a.example:8080/abs?q=1 HTTP/1.1\nHost: a.example:8080\nConnection: close'),
    'GET http://a.example:8080/abs?q=1',
    0,
  ],
  [
    'an absolute-form target naming an IPv6 address',
    head('GET http://[::1]/v6 HTTP/1.1\nHost: [::1]\nConnection: close'),
    'GET http://[::1]/v6',
    0,
  ],
];

describe.each(['sync', 'async'] as const)('odd but valid requests with -k %s', (workerClass) => {
  const answers: Array<{ statuses: number[]; body: string | undefined; connection: string | undefined; closed: boolean }> = [];
  let app: { pid: number; seen: string[] };
  let logLines: string[] = [];

  beforeAll(async () => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-served-')), 'access.log');
    const unicorn = await serve(RECORDER, ['-k', workerClass, '--access-logfile', log, '--access-logformat', '%(s)s']);
    for (const [, bytes] of SERVED) {
      const { reply, closed } = await exchange(unicorn.url(), bytes);
      const found = responses(reply);
      answers.push({ statuses: found.map((r) => r.status), body: found[0]?.body, connection: found[0]?.headers.connection, closed });
    }
    app = await seenByApp(unicorn.url());
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    logLines = readFileSync(log, 'utf8').trimEnd().split('\n');
  }, 30_000);

  it.each(SERVED.map(([what, , handed, bytes], i) => [what, handed, bytes, i] as const))(
    'serves %s, and closes the connection',
    (_, handed, bytes, i) => {
      expect(answers[i]).toEqual({
        statuses: [200],
        body: `${handed} ${bytes} bytes, pid ${app.pid}\n`,
        connection: 'close',
        closed: true,
      });
    },
  );

  it('hands the app each of them once, and nothing that came after', () => {
    expect(app.seen).toEqual(SERVED.map(([, , handed]) => handed));
  });

  it('logs each once', () => {
    expect(logLines).toEqual([...SERVED.map(() => '200'), '200']);
  });
});

describe.each(['sync', 'async'] as const)('bytes after the last request, while the app is on it, with -k %s', (workerClass) => {
  it('are thrown away: the app answers', async () => {
    const unicorn = await serve(ROUTES, ['-k', workerClass]);
    const socket = connect(unicorn.url());
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await unicorn.waitForOutput('slow started');
    socket.write('GARBAGE\r\n\r\n');
    await closed;
    const [response, ...more] = responses(reply);
    expect(response).toMatchObject({ status: 200, body: expect.stringMatching(/^slow \d+\n$/) });
    expect(more).toEqual([]);
  });
});

describe.each(['sync', 'async'] as const)('CONNECT pipelined behind another request, with -k %s', (workerClass) => {
  const bytes = `GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n${head('CONNECT a.example:443 HTTP/1.1\nHost: a.example:443')}`;

  it('is answered after it (sync: not at all, as its response closes the connection)', async () => {
    const unicorn = await serve(ROUTES, ['-k', workerClass]);
    const { reply, closed } = await exchange(unicorn.url(), bytes);
    expect(responses(reply).map((r) => r.status)).toEqual(workerClass === 'async' ? [200, 501] : [200]);
    expect(closed).toBe(true);
  });

  it('leaves the worker serving when its client resets the connection meanwhile', async () => {
    const unicorn = await serve(ROUTES, ['-k', workerClass]);
    const [worker] = unicorn.workerPids();
    const socket = connect(unicorn.url());
    socket.on('error', () => {});
    socket.write(bytes);
    await unicorn.waitForOutput('slow started');
    socket.resetAndDestroy();
    // Served by the same worker, after the held request has ended and its response met the reset.
    const after = await exchange(unicorn.url(), 'GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(responses(after.reply)).toMatchObject([{ status: 200, body: `slow ${worker}\n` }]);
    expect(unicorn.workerPids()).toEqual([worker]);
  });
});
