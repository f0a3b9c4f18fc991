/**
 * The request limits (docs/security.md): each answered with its status and `Connection: close`,
 * never reaching the app (test/fixtures/apps/recorder.js says what it was handed), with both worker
 * classes; the defaults, Gunicorn's, at their edges; and 0 as no limit.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Exchange, exchange, responses, seenByApp } from '../helpers/raw';
import { APPS, SMALL_REQUEST_LIMITS, serve, type Unicorn } from '../helpers/unicorn';

const RECORDER = path.join(APPS, 'recorder.js');
const SMALL = [...SMALL_REQUEST_LIMITS, '--header-timeout', '1'];

/** A request line of exactly `bytes` bytes (`GET TARGET HTTP/1.1`), its target starting with `path`. */
const requestLine = (path: string, bytes: number) => `GET ${path}${'a'.repeat(bytes - 'GET  HTTP/1.1'.length - path.length)} HTTP/1.1`;
/** A header field line of exactly `bytes` bytes, counted as Gunicorn does: `Name: value` and CRLF. */
const fieldLine = (name: string, bytes: number) => `${name}: ${'v'.repeat(bytes - name.length - 4)}\r\n`;
/** `count` header fields in all, Host and Connection included. */
const fields = (count: number) => Array.from({ length: count - 2 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
/** The target of a request line. */
const target = (line: string) => line.split(' ')[1];
const get = (line: string, headers = '') => `${line}\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`;

/** What a refusal must look like: the status, `Connection: close`, and the connection closed. */
function expectRefused(exchanged: Exchange | undefined, status: number): void {
  const [response, ...more] = responses(exchanged!.reply);
  expect(response?.status).toBe(status);
  expect(response?.headers.connection).toBe('close');
  expect(more).toEqual([]);
  expect(exchanged!.closed).toBe(true);
}

async function stopped(unicorn: Unicorn): Promise<void> {
  unicorn.signal('SIGTERM');
  expect(await unicorn.exited).toEqual({ code: 0, signal: null });
}

describe.each(['sync', 'async'] as const)('limits with -k %s', (workerClass) => {
  const LINE_OK = requestLine('/line-ok-', 100);
  const CASES = {
    lineAtLimit: get(LINE_OK),
    lineOver: get(requestLine('/line-over-', 101)),
    fieldsAtLimit: get('GET /fields-ok HTTP/1.1', fields(5)),
    fieldsOver: get('GET /fields-over HTTP/1.1', fields(6)),
    fieldAtLimit: get('GET /field-ok HTTP/1.1', fieldLine('X-Fifty', 50)),
    fieldOver: get('GET /field-over HTTP/1.1', fieldLine('X-Fifty', 51)),
    bodyAtLimit: `POST /body-ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n${'b'.repeat(1024)}`,
    bodyOver: `POST /body-over HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n${'b'.repeat(1025)}`,
    expectOver: 'POST /expect-over HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n',
    chunkedOver: `POST /chunked-over HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n${'c'.repeat(2000)}\r\n0\r\n\r\n`,
    // Keep-alive: a refused request ends its connection; what follows it never reaches the app.
    pipelined: `GET /first HTTP/1.1\r\nHost: x\r\n\r\n${requestLine('/over-', 101)}\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n`,
  };
  const replies = new Map<keyof typeof CASES | 'slowHead' | 'silent', Exchange>();
  let seen: string[] = [];
  let logLines: string[] = [];

  beforeAll(async () => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-limits-')), 'access.log');
    const unicorn = await serve(RECORDER, ['-k', workerClass, ...SMALL, '--access-logfile', log, '--access-logformat', '%(r)s %(s)s']);
    for (const [name, bytes] of Object.entries(CASES)) replies.set(name as keyof typeof CASES, await exchange(unicorn.url(), bytes));
    // Past --header-timeout 1: a head begun and not finished, and a connection that sends nothing.
    const [slowHead, silent] = await Promise.all([
      exchange(unicorn.url(), 'GET /slow-head HTTP/1.1\r\nHost: x\r\n'),
      exchange(unicorn.url(), ''),
    ]);
    replies.set('slowHead', slowHead);
    replies.set('silent', silent);
    seen = (await seenByApp(unicorn.url())).seen;
    await stopped(unicorn);
    logLines = readFileSync(log, 'utf8').trimEnd().split('\n');
  }, 30_000);

  it('takes a request line of --limit-request-line bytes, and answers one longer 414', () => {
    expect(responses(replies.get('lineAtLimit')!.reply)[0]?.status).toBe(200);
    expectRefused(replies.get('lineOver'), 414);
    expect(responses(replies.get('lineOver')!.reply)[0]?.body).toBe(
      'URI Too Long: the request line is 101 bytes; at most 100 are accepted\n',
    );
  });

  it('takes --limit-request-fields header fields, and answers more 431', () => {
    expect(responses(replies.get('fieldsAtLimit')!.reply)[0]?.status).toBe(200);
    expectRefused(replies.get('fieldsOver'), 431);
  });

  it('takes a header field line of --limit-request-field-size bytes, and answers a longer one 431', () => {
    expect(responses(replies.get('fieldAtLimit')!.reply)[0]?.status).toBe(200);
    expectRefused(replies.get('fieldOver'), 431);
  });

  it('takes a body of --limit-request-body bytes, and answers a longer Content-Length 413, before any 100 Continue', () => {
    expect(responses(replies.get('bodyAtLimit')!.reply)[0]?.body).toMatch(/^POST \/body-ok 1024 bytes/);
    expectRefused(replies.get('bodyOver'), 413);
    expectRefused(replies.get('expectOver'), 413);
    expect(replies.get('expectOver')!.reply).not.toContain('100 Continue');
  });

  it('cuts off a chunked body where it passes --limit-request-body, with 413', () => {
    expectRefused(replies.get('chunkedOver'), 413);
  });

  it('answers a head not finished within --header-timeout 408, and closes a connection that sent nothing without a word', () => {
    expectRefused(replies.get('slowHead'), 408);
    // Node looks for slow heads every tenth of the timeout: 1 s to 1.1 s, with room for a loaded machine.
    expect(replies.get('slowHead')!.ms).toBeGreaterThan(900);
    expect(replies.get('slowHead')!.ms).toBeLessThan(8000);
    expect(replies.get('silent')).toMatchObject({ reply: '', closed: true });
    expect(replies.get('silent')!.ms).toBeGreaterThan(900);
  });

  it('drops what was pipelined after a refused request', () => {
    const statuses = responses(replies.get('pipelined')!.reply).map((r) => r.status);
    // sync closes every connection after its first response, before the refusal would be written.
    expect(statuses).toEqual(workerClass === 'sync' ? [200] : [200, 414]);
    expect(replies.get('pipelined')!.closed).toBe(true);
  });

  it('hands the app only the requests within the limits', () => {
    expect(seen).toEqual([`GET ${target(LINE_OK)}`, 'GET /fields-ok', 'GET /field-ok', 'POST /body-ok', 'GET /first']);
  });

  it('logs every answered request once, refusals with their status', () => {
    expect(logLines).toEqual([
      `${LINE_OK} 200`,
      `GET ${target(CASES.lineOver)} HTTP/1.1 414`,
      'GET /fields-ok HTTP/1.1 200',
      'GET /fields-over HTTP/1.1 431',
      'GET /field-ok HTTP/1.1 200',
      'GET /field-over HTTP/1.1 431',
      'POST /body-ok HTTP/1.1 200',
      'POST /body-over HTTP/1.1 413',
      'POST /expect-over HTTP/1.1 413',
      'POST /chunked-over HTTP/1.1 413',
      'GET /first HTTP/1.1 200',
      // (With sync, its connection closed before the refusal was written.)
      `GET ${target(requestLine('/over-', 101))} HTTP/1.1 414`,
      // A head that never ended has no request line.
      '- 408',
      'GET /seen HTTP/1.1 200',
    ]);
  });
});

describe("Gunicorn's defaults", () => {
  it('refuse a request line over 4094 bytes, more than 100 header fields, a field line over 8190 bytes, and take bodies of any size', async () => {
    const unicorn = await serve(RECORDER, ['-k', 'async']);
    const status = async (bytes: string) => responses((await exchange(unicorn.url(), bytes)).reply)[0]?.status;
    expect(await status(get(requestLine('/', 4094)))).toBe(200);
    expect(await status(get(requestLine('/', 4095)))).toBe(414);
    expect(await status(get('GET /100 HTTP/1.1', fields(100)))).toBe(200);
    expect(await status(get('GET /101 HTTP/1.1', fields(101)))).toBe(431);
    expect(await status(get('GET /8190 HTTP/1.1', fieldLine('X-Big', 8190)))).toBe(200);
    expect(await status(get('GET /8191 HTTP/1.1', fieldLine('X-Big', 8191)))).toBe(431);
    const body = 'b'.repeat(2 * 1024 * 1024);
    const reply = await exchange(
      unicorn.url(),
      `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(responses(reply.reply)[0]?.body).toMatch(/^POST \/big 2097152 bytes/);
    expect((await seenByApp(unicorn.url())).seen).toEqual([`GET ${target(requestLine('/', 4094))}`, 'GET /100', 'GET /8190', 'POST /big']);
  });

  it('are lifted by 0: no request-line or field-size limit of their own, and 32768 fields', async () => {
    const unicorn = await serve(RECORDER, [
      '-k',
      'async',
      '--limit-request-line',
      '0',
      '--limit-request-field-size',
      '0',
      '--limit-request-fields',
      '0',
    ]);
    const status = async (bytes: string) => responses((await exchange(unicorn.url(), bytes)).reply)[0]?.status;
    expect(await status(get(requestLine('/', 20_000)))).toBe(200);
    expect(await status(get('GET /wide HTTP/1.1', fieldLine('X-Big', 20_000)))).toBe(200);
    expect(await status(get('GET /many HTTP/1.1', fields(1000)))).toBe(200);
    expect((await seenByApp(unicorn.url())).seen.map((request) => request.slice(0, 10))).toEqual(['GET /aaaaa', 'GET /wide', 'GET /many']);
  });
});
