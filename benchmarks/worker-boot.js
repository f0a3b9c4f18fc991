#!/usr/bin/env node
// A worker's boot, from its fork to its first response: LAUNCHES fresh launches of unicorn with 1
// and 4 workers, serving benchmarks/apps/hello.js and apps/express-hello.js, each with a client that
// connects as soon as the port listens (its connection waits in the backlog for the first worker
// ready). Per launch: fork → ready of the first worker and of the last, fork → the first byte of
// that client's response, the CPU time the first worker used to get ready, and the time spent in
// each step of its boot (lib/boot-probe.js); with Node's module compile cache (the default) and,
// with --no-cache-too, without (NODE_DISABLE_COMPILE_CACHE=1). With --unicorn given more than once
// (another checkout's bin/unicorn, built), the builds take turns launch by launch, so that a busy
// spell of a shared machine falls on each alike, and each figure has its ratio to the first build's.
//
//   node benchmarks/worker-boot.js [--launches 20] [--unicorn PATH ...] [--no-cache-too]
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
    unicorn: { type: 'string', multiple: true, default: [path.join(__dirname, '..', 'bin', 'unicorn')] },
    'no-cache-too': { type: 'boolean', default: false },
  },
});
const LAUNCHES = Number(values.launches);
if (!Number.isInteger(LAUNCHES) || LAUNCHES < 1) {
  process.stderr.write(`worker-boot: --launches "${values.launches}" is not accepted: expected a whole number of 1 or more\n`);
  process.exit(2);
}
const UNICORNS = values.unicorn.map((file) => path.resolve(file));
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

async function launch(unicorn, app, workers, cache) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-boot-'));
  const probeOut = path.join(dir, 'probe.jsonl');
  const env = { ...process.env, BOOT_PROBE_OUT: probeOut, NODE_OPTIONS: `--require ${PROBE}`, UNICORN_LOG_LEVEL: 'warning' };
  if (!cache) env.NODE_DISABLE_COMPILE_CACHE = '1';
  const args = [unicorn, '-w', String(workers), '-b', `127.0.0.1:${port}`, '--control-socket', path.join(dir, 'ctl.sock')];
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
      cpuMs: first.cpuMs,
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

/** The build's name in the tables: its checkout's directory and commit. */
const buildName = (unicorn) => {
  const dir = path.dirname(path.dirname(unicorn));
  return `${path.basename(dir)} (${describeCheckout(dir)})`;
};

async function main() {
  const rows = [];
  const stepRows = [];
  for (const cache of values['no-cache-too'] ? [true, false] : [true]) {
    for (const app of Object.keys(APPS)) {
      for (const workers of [1, 4]) {
        const runs = new Map(UNICORNS.map((unicorn) => [unicorn, []]));
        for (let i = 0; i < LAUNCHES; i++)
          for (const unicorn of UNICORNS) runs.get(unicorn).push(await launch(unicorn, app, workers, cache));
        const label = `${app}, ${workers} worker${workers > 1 ? 's' : ''}${cache ? '' : ', no compile cache'}`;
        const medianOf = (unicorn, pick) => median(runs.get(unicorn).map(pick));
        const cell = (unicorn, pick) => {
          const value = medianOf(unicorn, pick);
          const ratio = value / medianOf(UNICORNS[0], pick);
          return unicorn === UNICORNS[0] ? fmt(value, 1) : `${fmt(value, 1)} (${fmt(ratio, 2)} ×)`;
        };
        for (const unicorn of UNICORNS) {
          const build = UNICORNS.length > 1 ? ` — ${buildName(unicorn)}` : '';
          process.stderr.write(
            `${label}${build}: fork → first byte ${fmt(
              medianOf(unicorn, (r) => r.firstByte),
              1,
            )} ms\n`,
          );
          const figures = [(r) => r.firstReady, (r) => r.lastReady, (r) => r.firstByte, (r) => r.cpuMs].map((pick) => cell(unicorn, pick));
          rows.push([`${label}${build}`, ...figures, String(runs.get(unicorn)[0].modules)]);
          const steps = runs.get(unicorn)[0].steps;
          if (workers === 1)
            stepRows.push([
              `${label}${build}`,
              ...Object.keys(steps).map(
                (step) =>
                  `${step} ${fmt(
                    medianOf(unicorn, (r) => r.steps[step] ?? 0),
                    1,
                  )}`,
              ),
            ]);
        }
      }
    }
  }
  const columns = [
    ['server'],
    ['fork → ready ms', 'r'],
    ['fork → all ready ms', 'r'],
    ['fork → first byte ms', 'r'],
    ['CPU to ready ms', 'r'],
    ['modules', 'r'],
  ];
  const builds = UNICORNS.map((unicorn) => `unicorn ${describeCheckout(path.dirname(path.dirname(unicorn)))} (${unicorn})`).join(', ');
  process.stdout.write(
    [
      `Machine: ${machine()}. ${builds}. Medians of ${LAUNCHES} launches${UNICORNS.length > 1 ? ', the builds in turns' : ''}.`,
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
