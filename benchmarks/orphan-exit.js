#!/usr/bin/env node
// How long a worker spinning for ever outlives a kill -9 of its arbiter: one worker of
// test/fixtures/apps/runaway.js, /spin, then SIGKILL to the arbiter and /proc polled until the
// worker is gone (with --graceful-timeout 1s: the reaper waits that long and 2 s more). Three
// rounds. Another checkout (built) as the argument measures that one.
//
//   node benchmarks/orphan-exit.js [CHECKOUT]
'use strict';
const http = require('node:http');
const path = require('node:path');
const { alive, scratchContext, sleep, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
(async () => {
  const ctx = scratchContext(`${root}/bin/unicorn`);
  for (let i = 0; i < 3; i++) {
    // lib/fault-server.js starts it in a process group of its own: the worker, if it outlives the
    // arbiter and the reaper, is killed with the group however this ends.
    const server = await startUnicorn(ctx, {
      workers: 1,
      workerClass: 'sync',
      app: `${root}/test/fixtures/apps/runaway.js`,
      args: ['-t', '0', '--graceful-timeout', '1s'],
      stdout: true,
      wait: false,
    });
    try {
      await server.until(() => server.log.some((msg) => /^Worker \(pid:\d+\) ready/.test(msg)), 'worker ready');
      const worker = Number(/^Worker \(pid:(\d+)\) ready/.exec(server.log.find((msg) => /^Worker \(pid:\d+\) ready/.test(msg)))[1]);
      http.get(`${server.url}/spin`).on('error', () => {});
      await server.until(() => server.output().includes('spinning'), 'the worker spinning');
      const t0 = performance.now();
      process.kill(server.pid, 'SIGKILL');
      while (alive(worker) && performance.now() - t0 <= 10_000) await sleep(5);
      if (!alive(worker)) console.log(`worker gone ${(performance.now() - t0).toFixed(0)} ms after kill -9 of the arbiter`);
      else console.log('worker still running 10 s after kill -9 of the arbiter; killed now');
    } finally {
      await stopUnicorn(server);
    }
  }
})().catch((err) => {
  process.stderr.write(`orphan-exit: ${err.stack}\n`);
  process.exitCode = 1;
});
