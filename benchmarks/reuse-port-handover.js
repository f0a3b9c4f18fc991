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
const { fork, spawn } = require('node:child_process');
const { mkdtempSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const { tmpdir } = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const APP = path.join(ROOT, 'test', 'fixtures', 'apps', 'routes.js');
const LOAD = path.join(ROOT, 'test', 'helpers', 'load-client.js');
const WORKERS = 4;
const SCENARIOS = ['ttou', 'ttou-in-flight', 'hup', 'hup-fewer', 'max-requests', 'usr2'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** unicorn with its log lines parsed, and the app's stdout. */
function startUnicorn(bin, args) {
  const proc = spawn(process.execPath, [bin, '-b', '127.0.0.1:0', ...args, APP], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UNICORN_LOG_LEVEL: 'info' },
  });
  const server = { proc, logs: [], stdout: '' };
  let partial = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      try {
        server.logs.push(JSON.parse(line));
      } catch {
        process.stderr.write(`${line}\n`);
      }
    }
  });
  proc.stdout.setEncoding('utf8').on('data', (chunk) => (server.stdout += chunk));
  server.count = (pattern) => server.logs.filter((l) => pattern.test(l.msg)).length;
  server.until = async (check, what, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
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
  const args = ['-k', options.workerClass, '--reuse-port', '--graceful-timeout', '30'];
  let config;
  if (scenario === 'max-requests') args.push('--max-requests', '300');
  if (scenario === 'hup-fewer') {
    // The worker count from a file the reload reads again (-w would override it).
    config = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-bench-')), 'unicorn.config.js');
    writeFileSync(config, `module.exports = { workers: ${WORKERS} };\n`);
    args.push('-c', config);
  } else {
    args.push('-w', String(WORKERS));
  }
  const server = startUnicorn(options.unicorn, args);
  let successor;
  try {
    await server.until(() => server.count(ready) >= WORKERS, 'the workers');
    const url = server.logs.find((l) => l.msg.startsWith('Listening at: ')).address;
    let slow;
    let slowSent = 0;
    if (scenario === 'ttou-in-flight') {
      // TTOU stops the oldest worker: get a slow request to it.
      const oldest = server.logs.find((l) => l.msg.startsWith('Booting worker')).workerPid;
      while (!server.stdout.includes(`slow started ${oldest}\n`)) {
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
        server.proc.kill('SIGTTOU');
        await server.until(() => server.count(exited) >= i, `worker ${i} gone`);
        server.proc.kill('SIGTTIN');
        await server.until(() => server.count(ready) >= WORKERS + i, `worker ${i} replaced`);
      }
    } else if (scenario === 'ttou-in-flight') {
      server.proc.kill('SIGTTOU');
      await server.until(() => server.count(exited) >= 1, 'the worker gone');
    } else if (scenario === 'hup' || scenario === 'hup-fewer') {
      if (config) writeFileSync(config, `module.exports = { workers: 2 };\n`);
      const reloads = scenario === 'hup' ? 3 : 1;
      for (let i = 1; i <= reloads; i++) {
        server.proc.kill('SIGHUP');
        await server.until(() => server.count(/^Reload complete/) >= i, `reload ${i}`);
      }
      await server.until(() => server.count(exited) >= reloads * WORKERS, 'the old workers gone');
    } else if (scenario === 'usr2') {
      server.proc.kill('SIGUSR2');
      await server.until(() => server.count(/^Re-executing/) === 1, 'the re-exec');
      successor = server.logs.find((l) => l.msg.startsWith('Re-executing')).successorPid;
      await server.until(() => server.logs.filter((l) => l.pid === successor && ready.test(l.msg)).length >= WORKERS, 'the new workers');
      const gone = new Promise((resolve) => server.proc.once('exit', resolve));
      server.proc.kill('SIGTERM');
      await gone;
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
    if (successor) process.kill(successor, 'SIGTERM');
    const gone = new Promise((resolve) => server.proc.once('exit', resolve));
    server.proc.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000)]);
    server.proc.kill('SIGKILL');
  }
}

(async () => {
  const options = parseArgs(process.argv.slice(2));
  for (const scenario of options.scenarios) await run(options, scenario);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
