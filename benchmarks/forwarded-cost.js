#!/usr/bin/env node
// What applying forwarded headers costs a request, measured in-process: making a response (which
// is where a worker applies them) with and without the forwarded response class, on real
// IncomingMessage objects. A wrk run measures this only to within its noise; on a machine shared with
// other work, that is wider than the difference. Needs a build (`npm run build`).
//
//   node benchmarks/forwarded-cost.js
'use strict';
const http = require('node:http');
const path = require('node:path');

const dist = path.resolve(__dirname, '..', 'dist', 'src');
const { forwardedApplier, forwardedResponseClass } = require(path.join(dist, 'worker', 'forwarded.js'));
const { compilePeerList } = require(path.join(dist, 'shared', 'trusted-peers.js'));

const WRK = ['Host', '127.0.0.1:8000'];
const BROWSER = [
  ...['Host', 'example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64)', 'Accept', 'text/html,application/xhtml+xml'],
  ...['Accept-Language', 'en-GB,en;q=0.9', 'Accept-Encoding', 'gzip, deflate, br', 'Connection', 'keep-alive'],
  ...['Upgrade-Insecure-Requests', '1', 'If-Modified-Since', 'Sat, 21 Nov 2026 02:00:00 GMT', 'Cache-Control', 'max-age=0'],
];
const PROXIED = [...BROWSER, 'X-Forwarded-For', '203.0.113.9, 10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'example.com'];

const applier = forwardedApplier(compilePeerList(['127.0.0.1', '::1']));
const Plain = http.ServerResponse;
const Forwarded = forwardedResponseClass(http.ServerResponse, applier);

/** Requests on `peer`'s connections, 100 to a connection (keep-alive clients reuse theirs). */
function requests(rawHeaders, peer) {
  return Array.from({ length: 1000 }, (_, i) => {
    const socket = { remoteAddress: peer, remotePort: 40000 + Math.floor(i / 100), remoteFamily: 'IPv4' };
    const req = new http.IncomingMessage(socket);
    req.rawHeaders = rawHeaders;
    return req;
  });
}

/** Nanoseconds per response made by each class, the median of 15 runs, the two classes taking
 *  turns (so that the machine's other work weighs on both alike). Fresh requests each run. */
function measure(classes, rawHeaders, peer, n = 100_000) {
  const runs = classes.map(() => []);
  for (let run = 0; run < 16; run++) {
    classes.forEach((Response, c) => {
      const reqs = requests(rawHeaders, peer);
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) new Response(reqs[i % 1000]);
      // The first run of each warms it up.
      if (run > 0) runs[c].push(Number(process.hrtime.bigint() - started) / n);
    });
  }
  return runs.map((times) => times.sort((a, b) => a - b)[7]);
}

const cases = [
  ['wrk (Host only), trusted peer', WRK, '127.0.0.1'],
  ['a browser (9 headers), trusted peer', BROWSER, '127.0.0.1'],
  ['a browser, peer not trusted', BROWSER, '127.0.0.2'],
  ['a browser through a proxy: X-Forwarded-* applied', PROXIED, '127.0.0.1'],
];
console.log('| request | plain response, ns | forwarded response, ns | difference, ns |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, raw, peer] of cases) {
  const [plain, forwarded] = measure([Plain, Forwarded], raw, peer);
  console.log(`| ${name} | ${plain.toFixed(0)} | ${forwarded.toFixed(0)} | ${(forwarded - plain).toFixed(0)} |`);
}
console.log(`\nNode ${process.version}, ${require('node:os').cpus()[0]?.model ?? 'cpu'}`);
