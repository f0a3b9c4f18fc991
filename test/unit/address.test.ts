import { formatAddress, parseAddress } from '../../src/config/address';

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:8080', { kind: 'tcp', host: '127.0.0.1', port: 8080 }],
    ['0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0 }],
    ['localhost', { kind: 'tcp', host: 'localhost', port: 8000 }],
    ['example.internal:65535', { kind: 'tcp', host: 'example.internal', port: 65535 }],
    ['tcp://127.0.0.1:81', { kind: 'tcp', host: '127.0.0.1', port: 81 }],
    ['[::1]:9000', { kind: 'tcp', host: '::1', port: 9000 }],
    ['[::]', { kind: 'tcp', host: '::', port: 8000 }],
    ['unix:/run/app.sock', { kind: 'unix', path: '/run/app.sock' }],
    ['unix:///run/app.sock', { kind: 'unix', path: '/run/app.sock' }],
    ['unix:app.sock', { kind: 'unix', path: '/srv/app.sock' }],
    ['fd://3', { kind: 'fd', fd: 3 }],
  ])('accepts %s', (raw, expected) => {
    expect(parseAddress(raw, '/srv')).toEqual(expected);
  });

  it.each([
    ['127.0.0.1:', /not a port number/],
    ['127.0.0.1:65536', /not a port number/],
    ['127.0.0.1:http', /not a port number/],
    ['::1', /IPv6 address needs brackets/],
    ['[not-ipv6]:80', /not an IPv6 address/],
    ['unix:', /needs a path/],
    ['fd://x', /file descriptor number/],
    ['bad host:80', /not a host name/],
    [':8000', /not a host name/],
  ])('refuses %s', (raw, reason) => {
    const result = parseAddress(raw, '/srv');
    expect(typeof result).toBe('string');
    expect(result).toMatch(reason);
  });

  it('formats addresses for logs', () => {
    expect(formatAddress({ kind: 'tcp', host: '::1', port: 80 })).toBe('http://[::1]:80');
    expect(formatAddress({ kind: 'tcp', host: '127.0.0.1', port: 80 })).toBe('http://127.0.0.1:80');
    expect(formatAddress({ kind: 'unix', path: '/a.sock' })).toBe('unix:/a.sock');
    expect(formatAddress({ kind: 'fd', fd: 5 })).toBe('fd://5');
  });
});
