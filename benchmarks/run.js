#!/usr/bin/env node
// Side-by-side throughput of unicorn and plain node:cluster serving the same handler with the same
// worker count, alternating the contenders round by round, with keep-alive and with Connection: close;
// unicorn with its access log on against the same unicorn with it off (scenario access-log), and
// the cost of trusting a proxy's headers or reading the PROXY protocol (scenario proxies).
//
//   npm run bench [-- --duration 5 --rounds 3 --workers 2 --connections 50 --scenario close]
//
// The load generator is wrk when it is installed (apt-get install wrk), else autocannon from npm.
// Everything runs on loopback; each run is bounded in time and stops by itself.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { freePort, get } = require('./net-utils.js');
const { readIfExists, replaceSection } = require('./results-file.js');

// `npm run bench -- reload [options]`: the reload-under-load benchmark instead, benchmarks/reload.js.
if (process.argv[2] === 'reload') {
  process.argv.splice(2, 1);
  require('./reload.js');
  return;
}

const ROOT = path.resolve(__dirname, '..');
const HELLO = path.join(__dirname, 'apps', 'hello.js');
const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    connections: { type: 'string', default: '50' },
    scenario: { type: 'string', multiple: true },
    generator: { type: 'string' },
    out: { type: 'string' },
  },
});
const DURATION = Number(opts.duration);
const ROUNDS = Number(opts.rounds);
const WORKERS = Number(opts.workers);
const CONNECTIONS = Number(opts.connections);
const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
const GENERATOR = opts.generator ?? (hasWrk ? 'wrk' : 'autocannon');

/** `extra`: a name suffix and more flags, given the run's own temporary directory. */
const unicorn = (workerClass, extra = { name: '', args: () => [] }) => ({
  name: `unicorn ${workerClass}${extra.name}`,
  command: (port, dir) => [
    process.execPath,
    [path.join(ROOT, 'bin', 'unicorn'), '-w', String(WORKERS), '-k', workerClass, '-b', `127.0.0.1:${port}`, ...extra.args(dir), HELLO],
  ],
  env: { UNICORN_LOG_LEVEL: 'warn' },
});
/** The access log to a file of the run's own, removed after it (a run writes tens of megabytes). */
const accessLog = (format) => ({
  name: `, access log${format ? ` (${format})` : ''}`,
  args: (dir) => ['--access-logfile', path.join(dir, 'access.log'), ...(format ? ['--access-logformat', format] : [])],
});
const nodeCluster = (policy, label) => ({
  name: `node:cluster ${label}`,
  command: () => [process.execPath, [path.join(__dirname, 'peers', 'node-cluster.js')]],
  env: { CLUSTER_POLICY: policy },
});
/** The contenders every other one's throughput is divided by, unless a scenario names its own. */
const PEERS = ['node:cluster round-robin', 'node:cluster shared-handle'];

const SCENARIOS = {
  // Keep-alive: unicorn's sync class closes every connection by design, so async stands for unicorn.
  'keep-alive': { headers: {}, contenders: [unicorn('async'), nodeCluster('rr', 'round-robin'), nodeCluster('none', 'shared-handle')] },
  close: {
    headers: { connection: 'close' },
    contenders: [unicorn('sync'), unicorn('async'), nodeCluster('rr', 'round-robin'), nodeCluster('none', 'shared-handle')],
  },
  // The access log's cost where it is largest: the most requests a second (keep-alive, async).
  'access-log': {
    headers: {},
    note: `The access log goes to a new file in ${os.tmpdir()} each run (the default format: a line of about 70 bytes), removed after it.`,
    peers: ['unicorn async'],
    contenders: [unicorn('async'), unicorn('async', accessLog()), unicorn('async', accessLog('json'))],
  },
  // What trusting a proxy costs per request: nothing trusted (no forwarded code runs), the default
  // (the loopback client is trusted; its requests carry no forwarded headers), the headers applied
  // to every request, and --proxy-protocol read on every connection (from a client sending none).
  proxies: {
    headers: {},
    note: 'wrk runs on 127.0.0.1, which the default --forwarded-allow-ips trusts. "headers applied": every request carries X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host, applied to the socket and Host.',
    peers: ["unicorn async, nothing trusted"],
    contenders: [
      unicorn('async', { name: ', nothing trusted', args: () => ['--forwarded-allow-ips', ''] }),
      unicorn('async', { name: ', default', args: () => [] }),
      {
        ...unicorn('async', { name: ', headers applied', args: () => [] }),
        headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
      },
      unicorn('async', { name: ', --proxy-protocol', args: () => ['--proxy-protocol'] }),
    ],
  },
};

/** Wait until every worker could have booted: the port answers several times in a row. */
async function waitUntilServing(port, child) {
  const deadline = Date.now() + 15_000;
  let ok = 0;
  while (ok < 2 * WORKERS) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('server did not answer within 15 s');
    ok = (await get(port)) ? ok + 1 : 0;
    if (ok === 0) await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function parseWrkDuration(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

async function runWrk(port, headers) {
  const args = ['-t', '1', '-c', String(CONNECTIONS), '-d', `${DURATION}s`, '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(`http://127.0.0.1:${port}/`);
  const out = await new Promise((resolve, reject) => {
    const child = spawn('wrk', args);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('exit', () => resolve(text));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = parseWrkDuration(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseWrkDuration(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // With Connection: close, wrk counts the server's orderly close after each response as a read error.
  const errors = non2xx + (socket ? Number(socket[1]) + Number(socket[3]) + Number(socket[4]) + (headers.connection ? 0 : Number(socket[2])) : 0);
  return { rps, p50, p99, errors };
}

async function runAutocannon(port, headers) {
  const autocannon = require('autocannon');
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: DURATION, headers });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx + result.timeouts };
}

async function measure(contender, headers) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-'));
  const [cmd, args] = contender.command(port, dir);
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), WORKERS: String(WORKERS), ...contender.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitUntilServing(port, child);
    return await (GENERATOR === 'wrk' ? runWrk(port, headers) : runAutocannon(port, headers));
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main() {
  const chosen = opts.scenario ?? Object.keys(SCENARIOS);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  const sections = [];
  for (const name of chosen) {
    const scenario = SCENARIOS[name];
    if (!scenario) throw new Error(`no scenario ${name}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
    const runs = new Map(scenario.contenders.map((c) => [c.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const contender of scenario.contenders) {
        const result = await measure(contender, { ...scenario.headers, ...contender.headers });
        runs.get(contender.name).push(result);
        process.stderr.write(`${name} round ${round}: ${contender.name}: ${fmt(result.rps)} req/s, errors ${result.errors}\n`);
      }
    }
    const summary = new Map([...runs].map(([contender, results]) => {
      const rps = median(results.map((r) => r.rps));
      const mid = results.find((r) => r.rps === rps);
      return [contender, { rps, p50: mid.p50, p99: mid.p99, errors: results.reduce((n, r) => n + r.errors, 0) }];
    }));
    const peers = scenario.peers ?? PEERS;
    const heading = `## ${name}${scenario.headers.connection ? ' (Connection: close on every request)' : ''}`;
    const lines = [
      heading,
      '',
      `Command: \`npm run bench -- --scenario ${name} --duration ${DURATION} --rounds ${ROUNDS} --workers ${WORKERS} --connections ${CONNECTIONS}\``,
      `Machine: ${machine}. Load generator: ${GENERATOR}, ${CONNECTIONS} connections, ${DURATION} s a run, ${ROUNDS} rounds alternating the contenders; the median round is shown. ${WORKERS} workers each.`,
      ...(scenario.note ? ['', scenario.note] : []),
      '',
      `| contender | req/s | p50 ms | p99 ms | errors | × ${peers.join(' | × ')} |`,
      `| --- | ---: | ---: | ---: | ---: | ${peers.map(() => '---:').join(' | ')} |`,
    ];
    for (const [contender, s] of summary) {
      const ratios = peers.map((peer) => fmt(s.rps / summary.get(peer).rps, 2));
      lines.push(`| ${contender} | ${fmt(s.rps)} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${s.errors} | ${ratios.join(' | ')} |`);
    }
    // Every round as well as the median: on a shared machine, a round can be an outlier.
    lines.push('', `Every round, req/s: ${[...runs].map(([contender, results]) => `${contender} ${results.map((r) => fmt(r.rps)).join(', ')}`).join('; ')}.`, '');
    sections.push({ heading, text: lines.join('\n') });
  }
  process.stdout.write(`\n${sections.map((section) => section.text).join('\n')}\n`);
  if (opts.out) {
    // Only the sections of the scenarios run here are replaced; the others, and the one
    // benchmarks/reload.js writes, stay.
    let text = readIfExists(opts.out) || '# Benchmark results\n';
    for (const { heading, text: section } of sections) text = replaceSection(text, heading, section);
    writeFileSync(opts.out, text);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
