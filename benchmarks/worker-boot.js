#!/usr/bin/env node
// A worker's boot, from its fork to its first response: LAUNCHES fresh launches of unicorn with 1
// and 4 workers, serving benchmarks/apps/hello.js and apps/express-hello.js, each with a client that
// connects as soon as the port listens (its connection waits in the backlog for the first worker
// ready). Per launch: fork → ready of the first worker and of the last, fork → the first byte of
// that client's response, and the time spent in each step of the boot (lib/boot-probe.js); with
// Node's module compile cache (the default) and without (NODE_DISABLE_COMPILE_CACHE=1).
//
//   node benchmarks/worker-boot.js [--launches 20] [--unicorn PATH] [--no-cache-too]
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { freePort } = require('./lib/net-utils.js');
const { fmt, machine, describeCheckout, median, table } = require('./lib/report.js');
const { sleep } = require('./lib/servers.js');

const { values } = parseArgs({
  options: {
    launches: { type: 'string', default: '20' },
    unicorn: { type: 'string', default: path.join(__dirname, '..', 'bin', 'unicorn') },
    'no-cache-too': { type: 'boolean', default: false },
  },
});
const LAUNCHES = Number(values.launches);
if (!Number.isInteger(LAUNCHES) || LAUNCHES < 1) {
  process.stderr.write(`worker-boot: --launches "${values.launches}" is not accepted: expected a whole number of 1 or more\n`);
  process.exit(2);
}
const UNICORN = path.resolve(values.unicorn);
const PROBE = path.join(__dirname, 'lib', 'boot-probe.js');
const APPS = { hello: 'hello.js', Express: 'express-hello.js' };
const now = () => performance.timeOrigin + performance.now();

/** Connect as soon as something listens on `port`, send one GET, and resolve with the wall-clock time
 *  of the connection and of the response's first byte. */
async function firstByte(port, deadline) {
  for (;;) {
    if (now() > deadline) throw new Error(`nothing listened on ${port} in time`);
    const result = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let connected;
      socket.once('connect', () => {
        connected = now();
        socket.write('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
      });
      socket.once('data', () => {
        resolve({ connected, firstByte: now() });
        socket.destroy();
      });
      socket.once('error', () => resolve(undefined));
      socket.once('close', () => resolve(undefined));
    });
    if (result) return result;
    await sleep(1);
  }
}

async function launch(app, workers, cache) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-boot-'));
  const probeOut = path.join(dir, 'probe.jsonl');
  const env = { ...process.env, BOOT_PROBE_OUT: probeOut, NODE_OPTIONS: `--require ${PROBE}`, UNICORN_LOG_LEVEL: 'warning' };
  if (!cache) env.NODE_DISABLE_COMPILE_CACHE = '1';
  const args = [UNICORN, '-w', String(workers), '-b', `127.0.0.1:${port}`, '--control-socket', path.join(dir, 'ctl.sock')];
  const child = spawn(process.execPath, [...args, path.join(__dirname, 'apps', APPS[app])], { detached: true, env, stdio: 'ignore' });
  try {
    const client = await firstByte(port, now() + 30_000);
    let events = [];
    const deadline = now() + 30_000;
    while (events.filter((e) => e.event === 'ready').length < workers) {
      if (now() > deadline) throw new Error(`${workers} workers were not ready within 30 s`);
      await sleep(20);
      events = readFileSync(probeOut, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
    }
    const forks = new Map(events.filter((e) => e.event === 'fork').map((e) => [e.worker, e.at]));
    const ready = events.filter((e) => e.event === 'ready').map((e) => ({ ...e, fork: forks.get(e.pid) }));
    const firstFork = Math.min(...forks.values());
    const first = ready.reduce((a, b) => (a.at <= b.at ? a : b));
    // The first ready worker's own steps: each step lasts until the next one begins (ready ends the last).
    const marks = [['node start', first.start], ['node bootstrap', first.start], ...first.steps, ['ready', first.at]];
    const steps = {};
    steps['fork → node start'] = first.start - first.fork;
    for (let i = 1; i < marks.length - 1; i++) steps[marks[i][0]] = (steps[marks[i][0]] ?? 0) + marks[i + 1][1] - marks[i][1];
    return {
      firstReady: Math.min(...ready.map((r) => r.at - r.fork)),
      lastReady: Math.max(...ready.map((r) => r.at)) - firstFork,
      firstByte: client.firstByte - Math.max(firstFork, client.connected),
      modules: first.modules,
      steps,
    };
  } finally {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const rows = [];
  const stepRows = [];
  for (const cache of values['no-cache-too'] ? [true, false] : [true]) {
    for (const app of Object.keys(APPS)) {
      for (const workers of [1, 4]) {
        const runs = [];
        for (let i = 0; i < LAUNCHES; i++) runs.push(await launch(app, workers, cache));
        const m = (pick) => fmt(median(runs.map(pick)), 1);
        const label = `${app}, ${workers} worker${workers > 1 ? 's' : ''}${cache ? '' : ', no compile cache'}`;
        process.stderr.write(`${label}: fork → first byte ${m((r) => r.firstByte)} ms\n`);
        rows.push([label, m((r) => r.firstReady), m((r) => r.lastReady), m((r) => r.firstByte), String(runs[0].modules)]);
        if (workers === 1) stepRows.push([label, ...Object.keys(runs[0].steps).map((step) => `${step} ${m((r) => r.steps[step] ?? 0)}`)]);
      }
    }
  }
  const columns = [['server'], ['fork → ready ms', 'r'], ['fork → all ready ms', 'r'], ['fork → first byte ms', 'r'], ['modules', 'r']];
  process.stdout.write(
    [
      `Machine: ${machine()}. unicorn ${describeCheckout(path.dirname(path.dirname(UNICORN)))}. Medians of ${LAUNCHES} launches.`,
      '',
      table(columns, rows),
      '',
      'Steps of the first worker ready (1 worker), median ms each:',
      '',
      ...stepRows.map(([label, ...steps]) => `- ${label}: ${steps.join(', ')}`),
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
