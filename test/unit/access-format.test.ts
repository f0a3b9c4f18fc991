import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AccessFormatter, type AccessRecord, compileAccessFormat, escapeField } from '../../src/shared/access-format';

const compile = (format: string): AccessFormatter => {
  const compiled = compileAccessFormat(format);
  if (typeof compiled !== 'function') throw new Error(compiled.problem);
  return compiled;
};

/** A finished request as the worker records it, with a fake request and response. */
function record(over: Partial<AccessRecord> & { headers?: Record<string, string | string[]> } = {}): AccessRecord {
  const { headers = {}, ...rest } = over;
  const url = 'url' in over ? over.url : '/';
  const req = { method: 'GET', url, httpVersion: '1.1', headers } as unknown as IncomingMessage;
  const res = { getHeader: () => undefined } as unknown as ServerResponse;
  return {
    req,
    res,
    method: 'GET',
    url,
    remoteAddress: '10.0.0.1',
    status: 200,
    bytes: 5,
    startedAt: Date.UTC(2000, 9, 10, 20, 55, 36),
    duration: 1234.5678,
    aborted: false,
    headHeaders: undefined,
    mount: '/api',
    ...rest,
  };
}

describe('compileAccessFormat', () => {
  it('keeps literal text and %% between atoms', () => {
    expect(compile('100%% %(s)s [%(m)s]')(record())).toBe('100% 200 [GET]\n');
  });

  it('measures the duration as Gunicorn does: T, M, D and L from the same microseconds', () => {
    expect(compile('%(T)s %(M)s %(D)s %(L)s')(record({ duration: 61_234.5678 }))).toBe('61 61234 61234567 61.234567\n');
    expect(compile('%(L)s')(record({ duration: 0.0009 }))).toBe('0.000000\n');
  });

  it("writes '-' for what a request rejected by the parser does not have", () => {
    const rejected = record({ req: undefined, res: undefined, method: undefined, url: undefined, status: 400, bytes: 0 });
    expect(compile('%(h)s %(u)s "%(r)s" %(m)s %(U)s %(q)s %(H)s %(s)s %(b)s %(B)s "%(f)s" "%(a)s" %({x}i)s %({x}o)s')(rejected)).toBe(
      '10.0.0.1 - "-" - - - - 400 - 0 "-" "-" - -\n',
    );
  });

  it('gives the method and target the request arrived with, not what the app rewrote them to', () => {
    const rewritten = record({ url: '/api/items/1?x=2' });
    Object.assign(rewritten.req!, { method: 'PUT', url: '/items/1?x=2' });
    expect(compile('%(m)s "%(r)s" %(U)s %(q)s')(rewritten)).toBe('GET "GET /api/items/1?x=2 HTTP/1.1" /api/items/1 x=2\n');
    expect(JSON.parse(compile('json')(rewritten))).toMatchObject({ method: 'GET', url: '/api/items/1?x=2' });
  });

  it('reads response headers given to writeHead, as an object or a flat list, in any case', () => {
    const format = compile('%({X-Id}o)s');
    expect(format(record({ headHeaders: { 'x-ID': 7 } }))).toBe('7\n');
    expect(format(record({ headHeaders: ['Content-Type', 'text/plain', 'X-Id', 'abc'] }))).toBe('abc\n');
  });

  it('joins repeated headers', () => {
    expect(compile('%({x-forwarded-for}i)s')(record({ headers: { 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] } }))).toBe(
      '1.1.1.1, 2.2.2.2\n',
    );
  });

  it('takes the Basic auth user name up to the first colon, and nothing from other schemes', () => {
    const user = compile('%(u)s');
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    expect(user(record({ headers: basic('ann:pa:ss') }))).toBe('ann\n');
    expect(user(record({ headers: basic(':no-user') }))).toBe('-\n');
    expect(user(record({ headers: { authorization: 'Bearer abc' } }))).toBe('-\n');
  });

  it('json: the fields typed, null where absent', () => {
    const entry = JSON.parse(compile('json')(record({ url: '/a?b=1', status: 404, aborted: true }))) as Record<string, unknown>;
    expect(entry).toEqual({
      time: '2000-10-10T20:55:36.000Z',
      pid: process.pid,
      remoteAddr: '10.0.0.1',
      user: null,
      method: 'GET',
      url: '/a?b=1',
      protocol: 'HTTP/1.1',
      status: 404,
      bytes: 5,
      durationMs: 1234.568,
      referer: null,
      userAgent: null,
      mount: '/api',
      aborted: true,
    });
    expect(JSON.parse(compile('json')(record({ mount: undefined }))).mount).toBeNull();
  });

  it('names the mount that served the request, and - when none did', () => {
    expect(compile('%(mount)s %(s)s')(record({ mount: 'static:/assets' }))).toBe('static:/assets 200\n');
    expect(compile('%(mount)s %(s)s')(record({ mount: undefined, status: 404 }))).toBe('- 404\n');
  });

  it.each([
    ['%(z)s', 'unknown atom %(z)s'],
    ['%({}i)s', 'unknown atom %({}i)s'],
    ['%({x}e)s', 'unknown atom %({x}e)s'],
    ['%(h)r', '%(h) must be followed by s'],
    ['%', 'the % at character 1 starts no atom'],
    ['%(h', 'has no closing parenthesis'],
  ])('refuses %j', (format, problem) => {
    expect(compileAccessFormat(format)).toEqual({ problem: expect.stringContaining(problem) });
  });
});

describe('escapeField', () => {
  it('leaves printable ASCII as it is', () => {
    const text = 'Mozilla/5.0 (X11; Linux x86_64) ~!@#$%^&*';
    expect(escapeField(text)).toBe(text);
  });

  it('escapes quotes and backslashes, and writes other bytes as \\xhh, so no value can end a line', () => {
    expect(escapeField('a"b\\c')).toBe(String.raw`a\"b\\c`);
    expect(escapeField('evil\n127.0.0.1 - - forged\r\t')).toBe(String.raw`evil\x0a127.0.0.1 - - forged\x0d\x09`);
    // Node gives header bytes as latin1 characters: UTF-8 "é" arrives as two.
    expect(escapeField('caf\u00c3\u00a9')).toBe(String.raw`caf\xc3\xa9`);
    expect(escapeField('snow \u2603')).toBe(String.raw`snow \xe2\x98\x83`);
  });
});
