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
const { execFileSync, spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const path = require('node:path');

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

async function round(extraArgs) {
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'unicorn'), '-b', '127.0.0.1:0', '-w', '1', '-k', 'async', ...extraArgs, APP],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, UNICORN_LOG_FORMAT: 'json' },
    },
  );
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (c) => (log += c));
  const url = await new Promise((resolve) => {
    const check = setInterval(() => {
      const m = /"address":"(http:\/\/[^"]+)"/.exec(log);
      if (m && /Worker \(pid:\d+\) ready/.test(log)) resolve(m[1], clearInterval(check));
    }, 20);
  });
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
  proc.kill('SIGTERM');
  await new Promise((resolve) => proc.once('exit', resolve));
  const said = /"msg":"(Worker heap [^"]*)"/.exec(log)?.[1] ?? /(FATAL ERROR: [^\n]*)/.exec(log)?.[1];
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
  for (let i = 0; i < rounds; i++) console.log(JSON.stringify(await round(extra)));
}
void main();
