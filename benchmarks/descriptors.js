#!/usr/bin/env node
// Running out of file descriptors: one async worker started under `ulimit -n LIMIT`, and
// CLIENTS clients at once, each holding its request for MS ms (`Connection: close`). Counts the
// clients served and how the others failed, whether the worker crashed, and whether a request
// afterwards is served. Needs a build (`npm run build`); another checkout's with --unicorn.
//
//   node benchmarks/descriptors.js LIMIT CLIENTS MS [--unicorn OTHER_CHECKOUT/bin/unicorn] [UNICORN_ARGS...]
//   node benchmarks/descriptors.js 1024 1100 2500
'use strict';
const net = require('node:net');
const path = require('node:path');
const { scratchContext, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

const args = process.argv.slice(2);
const [limit, clients, ms] = args.splice(0, 3).map(Number);
const at = args.indexOf('--unicorn');
const bin = at === -1 ? path.join(__dirname, '..', 'bin', 'unicorn') : path.resolve(args.splice(at, 2)[1]);
if (!(limit > 0 && clients > 0 && ms >= 0)) {
  process.stderr.write('usage: node benchmarks/descriptors.js LIMIT CLIENTS MS [--unicorn BIN] [UNICORN_ARGS...]\n');
  process.exit(2);
}

/** One client: GET /?ms=MS with Connection: close; 'served', or how it failed. */
function client(port, target) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (how) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(/^HTTP\/1\.1 200 [\s\S]*held \d+\n$/.test(reply) ? 'served' : how);
    };
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', (err) => done(`${err.code} after ${reply ? 'the headers' : 'nothing'}`));
    socket.on('close', () => done(`closed after ${reply ? 'part of the response' : 'nothing'}`));
    const timer = setTimeout(() => done('no answer in 60s'), 60_000);
  });
}

(async () => {
  let server;
  try {
    // lib/fault-server.js starts it in a process group of its own, stopped whole however this ends.
    server = await startUnicorn(scratchContext(bin), {
      workers: 1,
      app: path.join(__dirname, 'apps', 'hold.js'),
      args,
      fdLimit: limit,
      wait: false,
    });
    await server.until(() => server.log.some((msg) => / ready$/.test(msg)), 'worker ready');
    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: clients }, () => client(server.port, `/?ms=${ms}`)));
    const seconds = (performance.now() - started) / 1000;
    const tally = {};
    for (const o of outcomes) tally[o] = (tally[o] ?? 0) + 1;
    const after = await client(server.port, '/?ms=0');
    const crashes = server.log.filter((msg) => msg.startsWith('Uncaught exception'));
    const warnings = server.entries.filter((l) => l.level === 'warn' || l.level === 40).map((l) => l.msg);
    process.stdout.write(
      `${JSON.stringify({ limit, clients, ms, tally, seconds: Number(seconds.toFixed(1)), crashes, warnings, requestAfterwards: after }, null, 2)}\n`,
    );
  } finally {
    await stopUnicorn(server);
  }
})().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
