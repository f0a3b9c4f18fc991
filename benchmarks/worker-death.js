#!/usr/bin/env node
// How long a worker that runs out of memory takes to die, and how long until its replacement
// serves: one unicorn with one async worker (test/fixtures/apps/runaway.js), a request that makes the
// worker keep objects until its heap is full (/retain), then /proc polled for the worker's exit and
// the server asked every 50 ms until a new pid answers. Also the worker's peak VmRSS, and when its
// VmRSS first passed 90% of V8's heap_size_limit (nearFullMs): from then on the heap is about full.
//
//   node benchmarks/worker-death.js [--rounds N] [--root CHECKOUT] [-- UNICORN_ARGS...]
//   NODE_OPTIONS=--max-old-space-size=256 node benchmarks/worker-death.js
'use strict';
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { scratchContext, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

// --root DIR: another checkout's build (to measure before and after a change in one run).
const rootAt = process.argv.indexOf('--root');
const ROOT = rootAt >= 0 ? path.resolve(process.argv[rootAt + 1]) : path.join(__dirname, '..');
const APP = path.join(__dirname, '..', 'test', 'fixtures', 'apps', 'runaway.js');

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c) => (body += c))
        .on('end', () => resolve(body));
    });
    req.on('error', () => resolve(undefined)).on('timeout', () => req.destroy());
  });
}

function rssMb(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return undefined;
  }
}

async function round(ctx, extraArgs) {
  // lib/fault-server.js starts it in a process group of its own, stopped whole however this ends.
  const server = await startUnicorn(ctx, { workers: 1, app: APP, args: extraArgs, wait: false });
  try {
    return await measure(server);
  } finally {
    await stopUnicorn(server);
  }
}

async function measure(server) {
  await server.until(() => server.log.some((msg) => /^Worker \(pid:\d+\) ready/.test(msg)), 'worker ready');
  const url = server.url;
  const first = (await get(url)).trim().split(' ')[1];
  const sent = performance.now();
  await get(`${url}/retain`);
  const limitMb = Number(execFileSync(process.execPath, ['-p', 'v8.getHeapStatistics().heap_size_limit / 2 ** 20'], { encoding: 'utf8' }));
  let nearFullMs;
  let peak = 0;
  let diedMs;
  let servedMs;
  while (servedMs === undefined && performance.now() - sent < 300_000) {
    const rss = rssMb(first);
    if (rss === undefined && diedMs === undefined) diedMs = performance.now() - sent;
    peak = Math.max(peak, rss ?? 0);
    if (nearFullMs === undefined && rss >= 0.9 * limitMb) nearFullMs = performance.now() - sent;
    if (diedMs !== undefined) {
      const body = await get(url);
      if (body && !body.includes(` ${first}`)) servedMs = performance.now() - sent;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const said =
    server.log.find((msg) => msg.startsWith('Worker heap ')) ?? server.log.map((msg) => /FATAL ERROR: .*/.exec(msg)?.[0]).find(Boolean);
  const r = (ms) => (ms === undefined ? null : Math.round(ms));
  return {
    nearFullMs: r(nearFullMs),
    diedMs: r(diedMs),
    servedMs: r(servedMs),
    afterNearFullMs: r(servedMs - nearFullMs),
    peakMb: Math.round(peak),
    said,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const dash = args.indexOf('--');
  const extra = dash >= 0 ? args.slice(dash + 1) : [];
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
  console.log(`${ROOT}: node ${process.version}, NODE_OPTIONS=${process.env.NODE_OPTIONS ?? ''}, unicorn ${extra.join(' ')}`);
  const ctx = scratchContext(path.join(ROOT, 'bin', 'unicorn'));
  for (let i = 0; i < rounds; i++) console.log(JSON.stringify(await round(ctx, extra)));
}
main().catch((err) => {
  process.stderr.write(`worker-death: ${err.stack}\n`);
  process.exitCode = 1;
});
