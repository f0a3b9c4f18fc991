// Small helpers the benchmark scripts share.
'use strict';
const http = require('node:http');
const net = require('node:net');

/** A loopback port nothing listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

/** One GET on a new connection: its status and body length, or undefined when nothing answered within 1 s. */
function request(port, path = '/') {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/** One GET on a new connection: true when it answers 200. */
const get = async (port, path = '/') => (await request(port, path))?.status === 200;

/**
 * One GET on a new connection (Connection: close) to a loopback port or a unix socket, timed on the
 * wall clock (ms, sub-ms precision, so that times taken in other processes, unicorn's log among
 * them, compare): `connectedAt`,
 * `firstByteAt` and `doneAt`, its `status`, and `failure` (what went wrong) unless a whole 200
 * arrived within `timeoutMs`. Whole: as long as its Content-Length says, when it says.
 */
function timedGet(port, path = '/', timeoutMs = 30_000) {
  // A string is a unix socket's path (an emperor's vassal), a number a loopback port.
  const onSocket = typeof port === 'string';
  const now = () => performance.timeOrigin + performance.now();
  return new Promise((resolve) => {
    const result = { sentAt: now(), connectedAt: NaN, firstByteAt: NaN, doneAt: NaN, status: undefined, failure: undefined };
    const socket = onSocket ? net.connect(port) : net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (failure) => {
      if (settled) return;
      settled = true;
      result.doneAt = now();
      clearTimeout(timer);
      result.failure = failure ?? (result.status === 200 ? undefined : `status ${result.status}`);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.once('connect', () => {
      result.connectedAt = now();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${onSocket ? 'localhost' : `127.0.0.1:${port}`}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk) => {
      if (Number.isNaN(result.firstByteAt)) result.firstByteAt = now();
      received = Buffer.concat([received, chunk]);
    });
    // The server closes after its response (Connection: close): the response is whole then, or never.
    socket.once('end', () => {
      const text = received.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd === -1) return finish(received.length ? 'closed mid-response' : 'closed before response');
      result.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1];
      finish(length !== undefined && received.length - headEnd - 4 < Number(length) ? 'closed mid-response' : undefined);
    });
    socket.once('error', (err) => finish(Number.isNaN(result.firstByteAt) ? (err.code ?? err.message) : 'closed mid-response'));
  });
}

module.exports = { freePort, request, get, timedGet };
