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

/** One GET on a new connection: true when it answers 200. */
function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

module.exports = { freePort, get };
