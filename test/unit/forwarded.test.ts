import { compilePeerList, parsePeerList } from '../../src/shared/trusted-peers';
import { parseForwardedHeader, parseNode, resolveForwarded } from '../../src/worker/forwarded';

const loopback = compilePeerList(['127.0.0.1,::1'])!;
const internal = compilePeerList(['127.0.0.1,10.0.0.0/8'])!;
const everyone = compilePeerList(['*'])!;

describe('resolveForwarded: X-Forwarded-*', () => {
  it('takes the client from the right of X-Forwarded-For, past the proxies trusted', () => {
    // A client's own X-Forwarded-For (6.6.6.6) is left of what its proxies added: never reached.
    const xff = '6.6.6.6, 203.0.113.9, 10.0.0.2';
    expect(resolveForwarded({ for: xff }, loopback).client).toEqual({ address: '10.0.0.2', port: undefined, family: 'IPv4' });
    expect(resolveForwarded({ for: xff }, internal).client?.address).toBe('203.0.113.9');
    // `*` trusts every hop: the leftmost, as Express's `trust proxy: true`.
    expect(resolveForwarded({ for: xff }, everyone).client?.address).toBe('6.6.6.6');
    // All trusted: the leftmost.
    expect(resolveForwarded({ for: '10.0.0.3, 10.0.0.2' }, internal).client?.address).toBe('10.0.0.3');
  });

  it('ends the walk at an entry that is not an address, at the address before it', () => {
    expect(resolveForwarded({ for: 'unknown, 10.0.0.2' }, internal).client?.address).toBe('10.0.0.2');
    expect(resolveForwarded({ for: '203.0.113.9, garbage' }, internal).client).toBeUndefined();
  });

  it('takes the first value of X-Forwarded-Proto and X-Forwarded-Host, ignoring ones that are not', () => {
    expect(resolveForwarded({ proto: 'https, http', host: 'example.com:8443, inner' }, loopback)).toEqual({
      client: undefined,
      scheme: 'https',
      host: 'example.com:8443',
    });
    expect(resolveForwarded({ proto: 'HTTPS' }, loopback).scheme).toBe('https');
    expect(resolveForwarded({ proto: 'gopher', host: 'example.com/admin?' }, loopback)).toMatchObject({
      scheme: undefined,
      host: undefined,
    });
  });

  it('reads Forwarded only when no X-Forwarded-* header is there', () => {
    const found = { for: '203.0.113.9', forwarded: 'for=6.6.6.6;proto=https;host=evil.example' };
    expect(resolveForwarded(found, loopback)).toEqual({
      client: { address: '203.0.113.9', port: undefined, family: 'IPv4' },
      scheme: undefined,
      host: undefined,
    });
  });
});

describe('resolveForwarded: Forwarded', () => {
  it('walks the elements as X-Forwarded-For, and takes proto and host from the client hop', () => {
    const forwarded = 'for=6.6.6.6;proto=http, for="[2001:db8::1]:4711";proto=https;host=example.com, for=10.0.0.2;proto=http;host=inner';
    expect(resolveForwarded({ forwarded }, internal)).toEqual({
      client: { address: '2001:db8::1', port: 4711, family: 'IPv6' },
      scheme: 'https',
      host: 'example.com',
    });
    expect(resolveForwarded({ forwarded }, loopback)).toMatchObject({ client: { address: '10.0.0.2' }, scheme: 'http', host: 'inner' });
  });

  it('applies proto and host from an element whose for is hidden', () => {
    expect(resolveForwarded({ forwarded: 'for=_hidden;proto=https;host=example.com' }, loopback)).toEqual({
      client: undefined,
      scheme: 'https',
      host: 'example.com',
    });
  });
});

describe('parseForwardedHeader', () => {
  it('reads tokens and quoted strings, case-insensitive names, the first of each per element', () => {
    expect(parseForwardedHeader('For="[::1]:80";PROTO=https;by=x, for=1.2.3.4;for=5.6.7.8;host="a\\"b"')).toEqual([
      { for: '[::1]:80', proto: 'https' },
      { for: '1.2.3.4', host: 'a"b' },
    ]);
    expect(parseForwardedHeader('for="1.2.3.4, 5.6.7.8";proto=http')).toEqual([{ for: '1.2.3.4, 5.6.7.8', proto: 'http' }]);
    expect(parseForwardedHeader('garbage;for=1.2.3.4')).toEqual([{ for: '1.2.3.4' }]);
  });
});

describe('parseNode', () => {
  it.each([
    ['192.0.2.1', { address: '192.0.2.1', port: undefined, family: 'IPv4' }],
    [' 192.0.2.1:4711 ', { address: '192.0.2.1', port: 4711, family: 'IPv4' }],
    ['2001:db8::1', { address: '2001:db8::1', port: undefined, family: 'IPv6' }],
    ['[2001:db8::1]', { address: '2001:db8::1', port: undefined, family: 'IPv6' }],
    ['[2001:db8::1]:443', { address: '2001:db8::1', port: 443, family: 'IPv6' }],
  ])('reads %j', (text, node) => {
    expect(parseNode(text)).toEqual(node);
  });

  it.each([
    'unknown',
    '_hidden',
    'example.com',
    '192.0.2.1:99999',
    '192.0.2.1:',
    '[2001:db8::1',
    '[::1]x',
    '1.2.3.4 5.6.7.8',
    '"192.0.2.1"',
  ])('refuses %j', (text) => {
    expect(parseNode(text)).toBeUndefined();
  });
});

describe('peer lists', () => {
  it('normalizes a list and refuses a bad entry by name', () => {
    expect(parsePeerList(' 10.0.0.0/8 , ::1,, ')).toBe('10.0.0.0/8,::1');
    expect(parsePeerList('')).toBe('');
    expect(parsePeerList('10.0.0.0/33')).toEqual({ problem: '"10.0.0.0/33" has a bad prefix length: an IPv4 network\'s is 0 to 32' });
    expect(parsePeerList('fd00::/129')).toEqual({ problem: '"fd00::/129" has a bad prefix length: an IPv6 network\'s is 0 to 128' });
    expect(parsePeerList('127.0.0.1,proxy.internal')).toEqual({ problem: '"proxy.internal" is not an IP address or network' });
    expect(parsePeerList('10.0.0.0/x')).toMatchObject({ problem: expect.stringMatching(/bad prefix length/) });
  });

  it.each(['1.2.3.4\0junk', 'fe80::1%eth0', '1.2.3', '::ffff:1.2.3.4.5', ' 1.2.3.4x'])('refuses %j as an address', (entry) => {
    expect(parsePeerList(entry)).toEqual({ problem: `${JSON.stringify(entry.trim())} is not an IP address or network` });
  });

  it.each(['::ffff:1.2.3.4', 'FE80::1', '0.0.0.0/0', '::/0'])('accepts %j', (entry) => {
    expect(parsePeerList(entry)).toBe(entry);
  });

  it('trusts unix socket peers, never one whose address is gone, and IPv4-mapped peers by their IPv4 rule', () => {
    expect(internal(undefined)).toBe(true);
    expect(internal(null)).toBe(false);
    expect(everyone(null)).toBe(false);
    expect(internal('::ffff:10.1.2.3')).toBe(true);
    expect(internal('11.0.0.1')).toBe(false);
    expect(loopback('::1')).toBe(true);
    expect(loopback('127.0.0.2')).toBe(false);
    // An empty list trusts nobody, unix sockets included: there is nothing to check.
    expect(compilePeerList([''])).toBeUndefined();
    expect(compilePeerList([])).toBeUndefined();
  });
});
