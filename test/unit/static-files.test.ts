import type { Stats } from 'node:fs';
import { acceptedCodings } from '../../src/worker/static/encodings';
import { KnownFiles } from '../../src/worker/static/known-files';
import { RepeatAnswers } from '../../src/worker/static/repeat-answers';
import { checkPath } from '../../src/worker/static/request-path';

describe('checkPath', () => {
  it.each(['/', '/a.txt', '/dir/', '/a%20b.txt', '/%25zz', '/caf%C3%A9', '/a..b', '/.well-known/x', '/./a', '//a'])('accepts %s', (p) => {
    expect(checkPath(p)).toEqual({ ok: true });
  });

  it.each([
    ['/../etc/passwd', 403],
    ['/a/../b', 403],
    ['/..', 403],
    ['/%2e%2e/x', 403],
    ['/%2E%2e', 403],
    ['/a%2fb', 403],
    ['/a%2Fb', 403],
    ['/a\\b', 403],
    ['/a%5cb', 403],
    ['/a%5C..', 403],
    ['/a%00', 400],
    ['/%00/x', 400],
    ['/%', 400],
    ['/%2', 400],
    ['/%zz', 400],
    ['/%%30', 400],
    ['/%ff', 400],
    ['/%e0%a4', 400],
  ] as const)('refuses %s with %d', (p, status) => {
    expect(checkPath(p)).toMatchObject({ refused: status });
  });
});

describe('acceptedCodings', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['identity', []],
    ['gzip', ['gzip']],
    ['br', ['br']],
    ['gzip, deflate, br', ['br', 'gzip']],
    ['gzip, br', ['br', 'gzip']],
    ['br;q=0.5, gzip', ['gzip', 'br']],
    ['gzip;q=0.9, br;q=0.9', ['br', 'gzip']],
    ['br;q=0, gzip', ['gzip']],
    ['BR;Q=1, GZIP;q=0', ['br']],
    ['*', ['br', 'gzip']],
    ['*;q=0.5, gzip', ['gzip', 'br']],
    ['*, br;q=0', ['gzip']],
    ['x-gzip', ['gzip']],
    ['br;q=2, gzip', ['gzip']],
    ['br;q=abc', []],
    ['br ; q=0.8 , gzip ; q=0.1', ['br', 'gzip']],
  ] as const)('%j takes %j', (accept, codings) => {
    expect(acceptedCodings(accept)).toEqual(codings);
  });
});

describe('KnownFiles', () => {
  const stat = (ino: number, size: number, mtimeMs = 1): Stats => ({ dev: 1, ino, size, mtimeMs }) as Stats;

  it('keeps what it learned while the file is the same one, and forgets it when it changes', () => {
    const files = new KnownFiles({ entries: 10, fileBytes: 100, totalBytes: 1000 });
    const first = files.get('/a', stat(1, 3));
    first.inside = true;
    files.keepBody('/a', first, Buffer.from('abc'));
    expect(files.get('/a', stat(1, 3))).toBe(first);
    for (const changed of [stat(2, 3), stat(1, 4), stat(1, 3, 2)]) {
      const fresh = files.get('/a', changed);
      expect([fresh.inside, fresh.body]).toEqual([undefined, undefined]);
    }
    expect(files.keptBytes).toBe(0);
  });

  it('keeps no body whose length is not the stat size (the file changed between stat and read)', () => {
    const files = new KnownFiles({ entries: 10, fileBytes: 100, totalBytes: 1000 });
    const known = files.get('/a', stat(1, 3));
    files.keepBody('/a', known, Buffer.from('abcd'));
    expect([known.body, files.keptBytes]).toEqual([undefined, 0]);
  });

  it('is bounded in entries and in bytes, the oldest going first', () => {
    const files = new KnownFiles({ entries: 3, fileBytes: 40, totalBytes: 100 });
    expect([files.keeps(40), files.keeps(41)]).toEqual([true, false]);
    for (let i = 0; i < 5; i++) files.get(`/${i}`, stat(i, 1));
    expect(files.size).toBe(3);
    const bodies = new KnownFiles({ entries: 100, fileBytes: 40, totalBytes: 100 });
    for (let i = 0; i < 4; i++) bodies.keepBody(`/${i}`, bodies.get(`/${i}`, stat(i, 40)), Buffer.alloc(40));
    expect([bodies.keptBytes, bodies.size]).toEqual([80, 2]);
    expect(bodies.get('/3', stat(3, 40)).body).toHaveLength(40);
    expect(bodies.get('/0', stat(0, 40)).body).toBeUndefined();
  });
});

describe('what a plain GET is answered again by', () => {
  it('is its path and the codings it takes, not the Accept-Encoding as sent; a condition or a range has none', () => {
    const key = (headers: Record<string, string>) => RepeatAnswers.key('/app.js', headers, true);
    expect(key({ 'accept-encoding': 'gzip, deflate, br, zstd' })).toBe('/app.js\nbr,gzip');
    expect(key({ 'accept-encoding': `br, gzip, ${'x'.repeat(7000)}` })).toBe('/app.js\nbr,gzip');
    expect(key({ 'accept-encoding': 'gzip;q=1, br;q=0.5' })).toBe('/app.js\ngzip,br');
    expect(key({})).toBe('/app.js\n');
    expect(RepeatAnswers.key('/app.js', { 'accept-encoding': 'br' }, false)).toBe('/app.js');
    for (const name of ['range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since']) {
      expect(key({ [name]: 'x' })).toBeUndefined();
    }
  });
});
