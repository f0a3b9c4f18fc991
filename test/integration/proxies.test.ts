/**
 * Behind a proxy: X-Forwarded-* and Forwarded headers from a trusted peer, and the PROXY protocol.
 * Trust is by the client socket's own address: 127.0.0.1 is trusted, 127.0.0.2 (another loopback
 * address, bound with `localAddress`) is not.
 */

import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitForLines } from '../helpers/files';
import { APPS, serve, type Unicorn } from '../helpers/unicorn';

const PROXIED = path.join(APPS, 'proxied.js');
const PROXIED_FETCH = path.join(APPS, 'proxied-fetch.mjs');
const TRUSTED = '127.0.0.1';
const UNTRUSTED = '127.0.0.2';
/** What a proxy in front of the app would add for a client at 203.0.113.9 that reached it by https
 *  at example.com; 6.6.6.6 is what the client claimed itself, which no walk reaches. */
const FORWARDED_HEADERS = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' };

const tmpDir = () => mkdtempSync(path.join(os.tmpdir(), 'unicorn-proxies-'));

interface Seen {
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  encrypted: boolean;
  host: string | null;
}

/** GET `url` from the loopback address `from`; the reply's JSON body, and the client port used. */
function ask<T = Seen>(
  url: string,
  from: string,
  headers: http.OutgoingHttpHeaders = {},
  agent: http.Agent | false = false,
): Promise<T & { clientPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: from, headers, agent, timeout: 10_000 }, (res) => {
      // Read now: a keep-alive socket goes back to the agent once the response has ended.
      const clientPort = res.socket.localPort!;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve({ ...(JSON.parse(body) as T), clientPort });
        } catch {
          reject(new Error(`${res.statusCode}: ${body}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

interface Exchange {
  /** Everything the server sent, to the connection's close. */
  reply: string;
  /** Milliseconds from the last write to the close. */
  closedAfterMs: number;
}

/**
 * Connect (to a port from `from`, or to a unix socket), write `pieces` one at a time with a pause
 * between (so that a header arrives in several reads), and collect the reply until the server
 * closes. Never closes first: a server that leaves the connection open fails at the bound.
 */
function exchange(
  target: { port: number; from?: string } | { path: string },
  pieces: Array<string | Buffer>,
  gapMs = 30,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in target ? net.connect(target.path) : net.connect({ port: target.port, host: TRUSTED, localAddress: target.from ?? TRUSTED });
    socket.setNoDelay(true);
    let reply = '';
    let lastWrite = performance.now();
    const bound = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; it sent: ${JSON.stringify(reply)}`));
    }, 15_000);
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    // A refusal destroys the connection: with bytes still unread, the client sees a reset.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(bound);
      resolve({ reply, closedAfterMs: performance.now() - lastWrite });
    });
    socket.on('connect', async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (socket.destroyed) return;
        socket.write(piece);
        lastWrite = performance.now();
      }
    });
  });
}

/** The JSON bodies of the responses in a raw reply, in order. */
const bodies = (reply: string): Seen[] => (reply.match(/\{[^{}]*\}/g) ?? []).map((body) => JSON.parse(body) as Seen);

const GET = (extra = '') => `GET / HTTP/1.1\r\nHost: app.internal\r\n${extra}Connection: close\r\n\r\n`;
const GET_KEEP_ALIVE = 'GET / HTTP/1.1\r\nHost: app.internal\r\n\r\n';

const portOf = (unicorn: Unicorn) => Number(new URL(unicorn.url()).port);

describe.each(['sync', 'async'])('forwarded headers, -k %s', (workerClass) => {
  it('apply from a trusted peer to the socket, the Host header and the access log, and not from another', async () => {
    const log = path.join(tmpDir(), 'access.log');
    const unicorn = await serve(PROXIED, [
      '-k',
      workerClass,
      '--forwarded-allow-ips',
      `${TRUSTED},10.0.0.0/8`,
      '--access-logfile',
      log,
      '--access-logformat',
      '%(h)s %(U)s',
    ]);
    const url = unicorn.url();

    const trusted = await ask(`${url}/trusted`, TRUSTED, FORWARDED_HEADERS);
    expect(trusted).toMatchObject({ remoteAddress: '203.0.113.9', remoteFamily: 'IPv4', encrypted: true, host: 'example.com' });
    expect(trusted.remotePort).toBeUndefined();
    // 10.0.0.2 is itself a trusted proxy: the walk goes past it.
    expect(await ask(`${url}/hops`, TRUSTED, { 'x-forwarded-for': '203.0.113.9, 10.0.0.2' })).toMatchObject({
      remoteAddress: '203.0.113.9',
      encrypted: false,
    });

    const untrusted = await ask(`${url}/untrusted`, UNTRUSTED, FORWARDED_HEADERS);
    expect(untrusted).toMatchObject({
      remoteAddress: UNTRUSTED,
      remotePort: untrusted.clientPort,
      encrypted: false,
      host: new URL(url).host,
    });

    const direct = await ask(`${url}/direct`, TRUSTED);
    expect(direct).toMatchObject({ remoteAddress: TRUSTED, remotePort: direct.clientPort, encrypted: false, host: new URL(url).host });

    expect((await waitForLines(log, 4)).sort()).toEqual([
      '127.0.0.1 /direct',
      '127.0.0.2 /untrusted',
      '203.0.113.9 /hops',
      '203.0.113.9 /trusted',
    ]);
  });
});

describe('forwarded headers on a keep-alive connection', () => {
  it('apply to each request as it comes: one that forwards nothing sees the proxy itself', async () => {
    const unicorn = await serve(PROXIED, ['-k', 'async']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await ask(unicorn.url(), TRUSTED, FORWARDED_HEADERS, agent);
      const second = await ask(unicorn.url(), TRUSTED, {}, agent);
      const third = await ask(unicorn.url(), TRUSTED, { 'x-forwarded-for': '198.51.100.1' }, agent);
      // One connection, three requests.
      expect(new Set([first.clientPort, second.clientPort, third.clientPort]).size).toBe(1);
      expect(first).toMatchObject({ remoteAddress: '203.0.113.9', encrypted: true, host: 'example.com' });
      expect(second).toMatchObject({ remoteAddress: TRUSTED, remotePort: second.clientPort, encrypted: false });
      expect(third).toMatchObject({ remoteAddress: '198.51.100.1', encrypted: false });
    } finally {
      agent.destroy();
    }
  });
});

describe('forwarded headers and a Fetch handler', () => {
  it('make the Request URL and the peer its second argument gives; the JSON access log agrees', async () => {
    const log = path.join(tmpDir(), 'access.log');
    const unicorn = await serve(PROXIED_FETCH, ['-k', 'async', '--access-logfile', log, '--access-logformat', 'json']);
    const url = unicorn.url();
    const forwarded = { forwarded: 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https;host=example.com' };

    expect(await ask(`${url}/a?b=c`, TRUSTED, forwarded)).toMatchObject({ url: 'https://example.com/a?b=c', remoteAddress: '2001:db8::7' });
    expect(await ask(`${url}/a?b=c`, UNTRUSTED, forwarded)).toMatchObject({ url: `${url}/a?b=c`, remoteAddress: UNTRUSTED });

    const lines = (await waitForLines(log, 2)).map((line) => JSON.parse(line) as { remoteAddr: string });
    expect(lines.map((line) => line.remoteAddr).sort()).toEqual(['127.0.0.2', '2001:db8::7']);
  });
});

describe('forwarded headers and frameworks that read them too', () => {
  it('give Express and Fastify the same answers with and without their own proxy trust', async () => {
    const unicorn = await serve(`${path.join(APPS, 'proxied-frameworks.js')}:create()`);
    const url = unicorn.url();
    for (const app of ['express', 'express-trusting', 'fastify', 'fastify-trusting']) {
      const trusted = await ask(`${url}/${app}`, TRUSTED, FORWARDED_HEADERS);
      expect({ app, ...trusted, clientPort: undefined }).toEqual({
        app,
        ip: '203.0.113.9',
        protocol: 'https',
        host: 'example.com',
        clientPort: undefined,
      });
      const untrusted = await ask(`${url}/${app}`, UNTRUSTED, FORWARDED_HEADERS);
      expect({ app, ...untrusted, clientPort: undefined }).toEqual({
        app,
        ip: UNTRUSTED,
        protocol: 'http',
        host: TRUSTED,
        clientPort: undefined,
      });
    }
  });
});

describe('forwarded headers and an upgrade', () => {
  it('apply before the upgrade listener sees the request', async () => {
    const unicorn = await serve(`${path.join(APPS, 'proxied-upgrade.js')}:server`, ['-k', 'async']);
    const upgrade = (extra: string) => `GET / HTTP/1.1\r\nHost: app.internal\r\nConnection: Upgrade\r\nUpgrade: echo\r\n${extra}\r\n`;
    const trusted = await exchange({ port: portOf(unicorn) }, [
      upgrade('X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: example.com\r\n'),
    ]);
    expect(trusted.reply).toMatch(/^HTTP\/1\.1 101 [\s\S]*\r\n\r\n203\.0\.113\.9 example\.com$/);
    const untrusted = await exchange({ port: portOf(unicorn), from: UNTRUSTED }, [upgrade('X-Forwarded-For: 203.0.113.9\r\n')]);
    expect(untrusted.reply).toMatch(/\r\n\r\n127\.0\.0\.2 app\.internal$/);
  });
});

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A PROXY v2 header: PROXY command, TCP over IPv6, from [2001:db8::7]:40000, then a TLV to skip. */
function v2Header(): Buffer {
  const addresses = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000007', 'hex').copy(addresses, 0);
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(addresses, 16);
  addresses.writeUInt16BE(40000, 32);
  addresses.writeUInt16BE(443, 34);
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP, 3 bytes
  const length = Buffer.alloc(2);
  length.writeUInt16BE(addresses.length + tlv.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21]), length, addresses, tlv]);
}

/** v2 LOCAL: the proxy's own connection, such as a health check. */
const V2_LOCAL = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
const V1 = 'PROXY TCP4 203.0.113.7 10.0.0.1 5678 443\r\n';

describe.each(['sync', 'async'])('PROXY protocol, -k %s', (workerClass) => {
  let unicorn: Unicorn;
  let log: string;
  let socketPath: string;

  beforeEach(async () => {
    const dir = tmpDir();
    log = path.join(dir, 'access.log');
    socketPath = path.join(dir, 'app.sock');
    unicorn = await serve(PROXIED, [
      ...[
        '-k',
        workerClass,
        '-b',
        `unix:${socketPath}`,
        '--proxy-protocol',
        '--proxy-allow-from',
        TRUSTED,
        '--proxy-protocol-timeout',
        '1s',
      ],
      ...['--access-logfile', log, '--access-logformat', '%(h)s %(U)s'],
    ]);
  });

  it('takes the client from a v1 or v2 header, in whole or in pieces, from TCP and unix socket peers', async () => {
    const port = portOf(unicorn);
    const v1 = await exchange({ port }, [`${V1}GET /v1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`]);
    expect(bodies(v1.reply)).toEqual([
      { remoteAddress: '203.0.113.7', remotePort: 5678, remoteFamily: 'IPv4', encrypted: false, host: 'a' },
    ]);

    // Cut inside the signature, inside the line, and with the request in the last piece.
    const pieces = await exchange({ port }, [
      'PRO',
      'XY TCP4 203.0.113.7 ',
      '10.0.0.1 5678 443\r',
      `\nGET /v1-pieces HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    ]);
    expect(bodies(pieces.reply)).toMatchObject([{ remoteAddress: '203.0.113.7', remotePort: 5678 }]);

    const header = v2Header();
    const v2 = await exchange({ port }, [
      header.subarray(0, 7),
      header.subarray(7, 15),
      header.subarray(15, 40),
      header.subarray(40),
      'GET /v2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    ]);
    expect(bodies(v2.reply)).toEqual([
      { remoteAddress: '2001:db8::7', remotePort: 40000, remoteFamily: 'IPv6', encrypted: false, host: 'a' },
    ]);

    const unix = await exchange({ path: socketPath }, [
      `PROXY TCP4 203.0.113.8 10.0.0.1 5679 443\r\nGET /unix HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    ]);
    expect(bodies(unix.reply)).toMatchObject([{ remoteAddress: '203.0.113.8', remotePort: 5679 }]);

    expect((await waitForLines(log, 4)).sort()).toEqual([
      '2001:db8::7 /v2',
      '203.0.113.7 /v1',
      '203.0.113.7 /v1-pieces',
      '203.0.113.8 /unix',
    ]);
  });

  it("keeps the peer's own address for v2 LOCAL and for a connection without a header", async () => {
    const port = portOf(unicorn);
    const local = await exchange({ port }, [Buffer.concat([V2_LOCAL, Buffer.from(GET())])]);
    expect(bodies(local.reply)).toMatchObject([{ remoteAddress: TRUSTED }]);
    const plain = await exchange({ port }, [GET()]);
    expect(bodies(plain.reply)).toMatchObject([{ remoteAddress: TRUSTED }]);
    const untrustedPlain = await exchange({ port, from: UNTRUSTED }, [GET()]);
    expect(bodies(untrustedPlain.reply)).toMatchObject([{ remoteAddress: UNTRUSTED }]);
  });

  it('does not let the proxied client forward headers for itself', async () => {
    // The client the header names (203.0.113.7) is no trusted proxy: its X-Forwarded-For is its own.
    const reply = await exchange({ port: portOf(unicorn) }, [`${V1}${GET('X-Forwarded-For: 6.6.6.6\r\n')}`]);
    expect(bodies(reply.reply)).toMatchObject([{ remoteAddress: '203.0.113.7' }]);
  });

  it('closes, writing nothing, a connection whose header is from a peer not trusted, malformed, or never complete', async () => {
    const port = portOf(unicorn);
    const untrusted = await exchange({ port, from: UNTRUSTED }, [`${V1}${GET()}`]);
    expect(untrusted.reply).toBe('');
    const malformed = await exchange({ port }, [`PROXY TCP4 203.0.113 10.0.0.1 5678 443\r\n${GET()}`]);
    expect(malformed.reply).toBe('');
    const incomplete = await exchange({ port }, ['PROXY TCP4 203.0.113.7 10.0']);
    expect(incomplete.reply).toBe('');
    // Closed by --proxy-protocol-timeout (1s), not at once: the lower bound leaves room for a slow
    // client to write late; the upper bound, in exchange(), only catches a hang.
    expect(incomplete.closedAfterMs).toBeGreaterThan(500);

    await unicorn.waitForLog(
      (l) => l.msg === 'Closed a connection from 127.0.0.2: a PROXY header from a peer not in --proxy-allow-from (127.0.0.1)',
      'the untrusted header refused',
    );
    await unicorn.waitForLog(
      (l) => l.msg === 'Closed a connection from 127.0.0.1: a malformed PROXY header: "203.0.113" is not an IPv4 address',
      'the malformed header refused',
    );
    await unicorn.waitForLog(
      (l) =>
        /^Closed a connection from 127\.0\.0\.1: its PROXY header was not complete within --proxy-protocol-timeout \(1000ms\)/.test(l.msg),
      'the incomplete header refused',
    );
    // None of them reached the app or its log; a request after them is served.
    expect(bodies((await exchange({ port }, [`${V1}${GET()}`])).reply)).toMatchObject([{ remoteAddress: '203.0.113.7' }]);
    expect(await waitForLines(log, 1)).toEqual(['203.0.113.7 /']);
  });

  if (workerClass === 'async') {
    it("keeps the header's client for every request on the connection", async () => {
      const reply = await exchange({ port: portOf(unicorn) }, [`${V1}${GET_KEEP_ALIVE}`, GET_KEEP_ALIVE, GET()]);
      expect(bodies(reply.reply).map((seen) => seen.remoteAddress)).toEqual(['203.0.113.7', '203.0.113.7', '203.0.113.7']);
    });
  }
});
