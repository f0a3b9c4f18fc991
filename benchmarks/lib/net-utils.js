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

module.exports = { freePort, request, get };
