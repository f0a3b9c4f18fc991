#!/usr/bin/env node
// How long a worker spinning for ever outlives a kill -9 of its arbiter: one worker of
// test/fixtures/apps/runaway.js, /spin, then SIGKILL to the arbiter and /proc polled until the
// worker is gone (with --graceful-timeout 1s: the reaper waits that long and 2 s more). Three
// rounds. Another checkout (built) as the argument measures that one.
//
//   node benchmarks/orphan-exit.js [CHECKOUT]
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const root = process.argv[2] ?? require('node:path').join(__dirname, '..');
const alive = (pid) => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
(async () => {
  for (let i = 0; i < 3; i++) {
    const p = spawn(
      process.execPath,
      [
        `${root}/bin/unicorn`,
        '-b',
        '127.0.0.1:0',
        '-w',
        '1',
        '-t',
        '0',
        '--graceful-timeout',
        '1s',
        `${root}/test/fixtures/apps/runaway.js`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '',
      out = '';
    p.stderr.setEncoding('utf8').on('data', (c) => (log += c));
    p.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    const wait = (f) =>
      new Promise((r) => {
        const t = setInterval(() => f() && r(clearInterval(t)), 5);
      });
    await wait(() => /Worker \(pid:\d+\) ready/.test(log));
    const url = /"address":"(http:[^"]+)"/.exec(log)[1];
    const worker = Number(/Worker \(pid:(\d+)\) ready/.exec(log)[1]);
    http.get(`${url}/spin`).on('error', () => {});
    await wait(() => out.includes('spinning'));
    const t0 = performance.now();
    p.kill('SIGKILL');
    await wait(() => !alive(worker) || performance.now() - t0 > 10_000);
    if (!alive(worker)) console.log(`worker gone ${(performance.now() - t0).toFixed(0)} ms after kill -9 of the arbiter`);
    else {
      console.log('worker still running 10 s after kill -9 of the arbiter; killed now');
      process.kill(worker, 'SIGKILL');
    }
  }
})();
