import { isIPv6 } from 'node:net';
import { formatIPv6, parseProxyHeader } from '../../src/worker/proxy-protocol';

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), `familyTransport`, then `rest` (addresses, TLVs). */
function v2(command: number, familyTransport: number, rest: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(rest.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20 | command, familyTransport]), length, rest]);
}

function inet(source: number[], sourcePort: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source).copy(block, 0);
  Buffer.from([10, 0, 0, 1]).copy(block, 4);
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(443, 10);
  return block;
}

describe('parseProxyHeader: v1', () => {
  it('takes the source of a TCP4 or TCP6 line and says how long the line is', () => {
    const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 5678 443\r\n';
    expect(parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`))).toEqual({
      kind: 'header',
      version: 1,
      length: line.length,
      source: { address: '203.0.113.7', port: 5678, family: 'IPv4' },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n'))).toMatchObject({
      source: { address: '2001:db8::7', port: 65535, family: 'IPv6' },
    });
  });

  it('names no client for UNKNOWN, whatever follows it on the line', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', version: 1, length: 15, source: undefined });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).toMatchObject({ kind: 'header', source: undefined });
  });

  it('waits while the bytes can still become a header, and tells HTTP apart early', () => {
    for (const prefix of ['P', 'PROX', 'PROXY ', 'PROXY TCP4 203.0.113.7 10.0.0.1 56']) {
      expect(parseProxyHeader(Buffer.from(prefix))).toEqual({ kind: 'partial' });
    }
    for (const http of ['GET / HTTP/1.1\r\n', 'POST /', 'PROPFIND / HTTP/1.1', 'PROXYZ', '\r\nGET /']) {
      expect(parseProxyHeader(Buffer.from(http))).toEqual({ kind: 'none' });
    }
  });

  it.each([
    ['PROXY TCP4 1.2.3 10.0.0.1 5678 443\r\n', /"1.2.3" is not an IPv4 address/],
    ['PROXY TCP4 2001:db8::1 10.0.0.1 5678 443\r\n', /not an IPv4 address/],
    ['PROXY TCP6 203.0.113.7 2001:db8::1 5678 443\r\n', /not an IPv6 address/],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 65536 443\r\n', /"65536" is not a port number/],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 0080 443\r\n', /"0080" is not a port number/],
    ['PROXY TCP4 203.0.113.7 10.0.0.1 5678\r\n', /has 6 fields, not 5/],
    ['PROXY  TCP4 203.0.113.7 10.0.0.1 5678 443\r\n', /protocol "" is not TCP4, TCP6 or UNKNOWN/],
    ['PROXY UDP4 203.0.113.7 10.0.0.1 5678 443\r\n', /protocol "UDP4"/],
    [`PROXY TCP4 ${'1'.repeat(120)}`, /no CRLF within the 107 bytes a v1 header may take/],
  ])('refuses %j', (text, problem) => {
    const parsed = parseProxyHeader(Buffer.from(text));
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.problem).toMatch(problem);
  });
});

describe('parseProxyHeader: v2', () => {
  it('takes an INET source, skipping TLVs after the addresses', () => {
    const tlvs = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x01, 0x00]);
    const header = v2(1, 0x11, Buffer.concat([inet([198, 51, 100, 4], 40000), tlvs]));
    expect(parseProxyHeader(Buffer.concat([header, Buffer.from('GET /')]))).toEqual({
      kind: 'header',
      version: 2,
      length: header.length,
      source: { address: '198.51.100.4', port: 40000, family: 'IPv4' },
    });
  });

  it('takes an INET6 source, written as Node writes a peer address', () => {
    const block = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(block, 0);
    block.writeUInt16BE(1234, 32);
    expect(parseProxyHeader(v2(1, 0x21, block))).toMatchObject({ source: { address: '2001:db8::7', port: 1234, family: 'IPv6' } });
  });

  it('names no client for LOCAL (whatever its family), UNSPEC or a unix socket source', () => {
    expect(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ kind: 'header', version: 2, length: 16, source: undefined });
    expect(parseProxyHeader(v2(0, 0x11, inet([1, 2, 3, 4], 1)))).toMatchObject({ kind: 'header', source: undefined });
    expect(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0)))).toMatchObject({ kind: 'header', source: undefined });
    expect(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216)))).toMatchObject({ kind: 'header', length: 232, source: undefined });
  });

  it('waits for the whole header, however it is cut', () => {
    const header = v2(1, 0x11, inet([198, 51, 100, 4], 40000));
    for (let cut = 1; cut < header.length; cut++) {
      expect(parseProxyHeader(header.subarray(0, cut))).toEqual({ kind: 'partial' });
    }
    expect(parseProxyHeader(header)).toMatchObject({ kind: 'header' });
  });

  it.each([
    [
      'version 1',
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0, 12]), inet([1, 2, 3, 4], 1)]),
      /version 1 after the v2 signature/,
    ],
    ['command 2', Buffer.concat([V2_SIGNATURE, Buffer.from([0x22, 0x11, 0, 12]), inet([1, 2, 3, 4], 1)]), /command 2 is not LOCAL/],
    ['family 4', v2(1, 0x41, Buffer.alloc(12)), /family 4 is not UNSPEC, INET, INET6 or UNIX/],
    ['DGRAM', v2(1, 0x12, inet([1, 2, 3, 4], 1)), /transport 2 is not STREAM/],
    ['short addresses', v2(1, 0x21, Buffer.alloc(12)), /holds 36 bytes of addresses, not 12/],
  ])('refuses %s, as soon as the fixed part shows it', (_, header, problem) => {
    const parsed = parseProxyHeader(header.subarray(0, 16));
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.problem).toMatch(problem);
  });
});

describe('formatIPv6', () => {
  it.each([
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100000000000100000001', '2001:db8:1::1:0:1'],
    ['fe800000000000000202b3fffe1e8329', 'fe80::202:b3ff:fe1e:8329'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['000000000000000000000000c0000201', '::192.0.2.1'],
  ])('%s is %s', (hex, text) => {
    expect(formatIPv6(Buffer.from(hex, 'hex'))).toBe(text);
    expect(isIPv6(text)).toBe(true);
  });
});
