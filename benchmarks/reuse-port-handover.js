#!/usr/bin/env node
// Connections lost when a --reuse-port worker leaves under connection churn (a new connection per
// request, 16 clients, test/helpers/load-client.js): each scenario starts unicorn with 4 workers on
// an ephemeral port, loads it for a second, does its thing, loads it for another second and counts
// every request that failed, by error. Needs a build (`npm run build`); --unicorn names another
// checkout's bin/unicorn to compare with. The kernel's net.ipv4.tcp_migrate_req applies as set.
//
//   node benchmarks/reuse-port-handover.js [--unicorn BIN] [--worker-class sync|async] [SCENARIO...]
//
// Scenarios: ttou (10 times one worker fewer, then one more again), ttou-in-flight (one worker
// fewer while it serves an 8 s request), hup (3 reloads), hup-fewer (a reload to 2 workers),
// max-requests (--max-requests 300: workers recycled under the load), usr2 (a re-exec, then TERM to
// the old arbiter once the new one's workers are ready).
'use strict';
const { fork } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { alive, scratchContext, sleep, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

const ROOT = path.resolve(__dirname, '..');
const APP = path.join(ROOT, 'test', 'fixtures', 'apps', 'routes.js');
const LOAD = path.join(ROOT, 'test', 'helpers', 'load-client.js');
const WORKERS = 4;
const SCENARIOS = ['ttou', 'ttou-in-flight', 'hup', 'hup-fewer', 'max-requests', 'usr2'];

function parseArgs(argv) {
  const options = { unicorn: path.join(ROOT, 'bin', 'unicorn'), workerClass: 'async', scenarios: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--unicorn') options.unicorn = path.resolve(argv[++i]);
    else if (argv[i] === '--worker-class') options.workerClass = argv[++i];
    else if (SCENARIOS.includes(argv[i])) options.scenarios.push(argv[i]);
    else throw new Error(`unknown argument ${argv[i]}; scenarios: ${SCENARIOS.join(', ')}`);
  }
  if (options.scenarios.length === 0) options.scenarios = SCENARIOS;
  return options;
}

/** unicorn (lib/fault-server.js: in a process group of its own, stopped whole however this ends). */
async function start(options, args) {
  const server = await startUnicorn(options.ctx, {
    // hup-fewer: the worker count from a file the reload reads again; -w would override it.
    workers: args.includes('-c') ? null : WORKERS,
    workerClass: options.workerClass,
    app: APP,
    args,
    stdout: true,
    wait: false,
  });
  server.count = (pattern) => server.log.filter((msg) => pattern.test(msg)).length;
  return server;
}

function startLoad(url) {
  const child = fork(LOAD, [JSON.stringify({ url, concurrency: 16, keepAlive: false, pauseMs: 0 })]);
  const ask = (type, reply = type) =>
    new Promise((resolve) => {
      const onMessage = (message) => {
        if (message.type !== reply) return;
        child.off('message', onMessage);
        resolve(message.counts);
      };
      child.on('message', onMessage);
      child.send({ type });
    });
  return new Promise((resolve) => child.once('message', () => resolve({ stop: () => ask('stop', 'done'), child })));
}

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => res.resume().on('end', () => resolve(res.statusCode)));
    req.on('error', (err) => resolve(err.code));
  });
}

async function run(options, scenario) {
  const exited = /^Worker \(pid:\d+\) exited with code/;
  const ready = /^Worker \(pid:\d+\) ready$/;
  const args = ['--reuse-port', '--graceful-timeout', '30'];
  let config;
  if (scenario === 'max-requests') args.push('--max-requests', '300');
  if (scenario === 'hup-fewer') {
    config = path.join(options.ctx.dir, 'unicorn.config.js');
    writeFileSync(config, `module.exports = { workers: ${WORKERS} };\n`);
    args.push('-c', config);
  }
  const server = await start(options, args);
  let successor;
  try {
    await server.until(() => server.count(ready) >= WORKERS, 'the workers');
    const url = server.url;
    let slow;
    let slowSent = 0;
    if (scenario === 'ttou-in-flight') {
      // TTOU stops the oldest worker: get a slow request to it.
      const oldest = server.entries.find((l) => l.msg.startsWith('Booting worker')).workerPid;
      while (!server.output().includes(`slow started ${oldest}\n`)) {
        slow = get(`${url}/slow?ms=8000`);
        slowSent++;
        await sleep(100);
      }
    }
    const load = await startLoad(url);
    await sleep(1000);
    const started = Date.now();
    if (scenario === 'ttou') {
      for (let i = 1; i <= 10; i++) {
        process.kill(server.pid, 'SIGTTOU');
        await server.until(() => server.count(exited) >= i, `worker ${i} gone`);
        process.kill(server.pid, 'SIGTTIN');
        await server.until(() => server.count(ready) >= WORKERS + i, `worker ${i} replaced`);
      }
    } else if (scenario === 'ttou-in-flight') {
      process.kill(server.pid, 'SIGTTOU');
      await server.until(() => server.count(exited) >= 1, 'the worker gone');
    } else if (scenario === 'hup' || scenario === 'hup-fewer') {
      if (config) writeFileSync(config, `module.exports = { workers: 2 };\n`);
      const reloads = scenario === 'hup' ? 3 : 1;
      for (let i = 1; i <= reloads; i++) {
        process.kill(server.pid, 'SIGHUP');
        await server.until(() => server.count(/^Reload complete/) >= i, `reload ${i}`);
      }
      await server.until(() => server.count(exited) >= reloads * WORKERS, 'the old workers gone');
    } else if (scenario === 'usr2') {
      process.kill(server.pid, 'SIGUSR2');
      await server.until(() => server.count(/^Re-executing/) === 1, 'the re-exec');
      successor = server.entries.find((l) => l.msg.startsWith('Re-executing')).successorPid;
      await server.until(() => server.entries.filter((l) => l.pid === successor && ready.test(l.msg)).length >= WORKERS, 'the new workers');
      process.kill(server.pid, 'SIGTERM');
      await server.exited;
    } else {
      await sleep(5000);
    }
    const took = Date.now() - started;
    await sleep(1000);
    const counts = await load.stop();
    load.child.kill();
    const recycled = server.count(/^Replacing worker/);
    const errors =
      Object.entries(counts.errors)
        .map(([code, n]) => `${code} ${n}`)
        .join(', ') || 'none';
    const extra =
      scenario === 'max-requests'
        ? `, ${recycled} workers recycled`
        : slow
          ? `, the slow request: ${await slow} (${slowSent} sent to find that worker)`
          : '';
    console.log(
      `${scenario.padEnd(15)} ${options.workerClass.padEnd(6)} ${String(counts.ok).padStart(7)} ok ${String(counts.failed + counts.refused).padStart(4)} failed (${errors}) over ${(took / 1000).toFixed(1)} s${extra}`,
    );
  } finally {
    if (successor) {
      // The successor is in the group too: let it stop as it would, then stop the rest.
      process.kill(successor, 'SIGTERM');
      for (const deadline = Date.now() + 10_000; alive(successor) && Date.now() < deadline; ) await sleep(20);
    }
    await stopUnicorn(server);
  }
}

(async () => {
  const options = parseArgs(process.argv.slice(2));
  options.ctx = scratchContext(options.unicorn);
  for (const scenario of options.scenarios) await run(options, scenario);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
