// Scenarios of steady load (keep-alive, churn, json, access-log, proxies): every contender serves
// the same app with the same worker count under the same load from wrk (or autocannon), round after
// round, alternating the contenders so that a slow spell of a shared machine falls on all of them;
// the median round of each is shown, with its ratio to each peer.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('../lib/net-utils.js');
const { runLoad } = require('../lib/http-load.js');
const { fmt, median, table } = require('../lib/report.js');
const { alternate } = require('../lib/rounds.js');
const { CONTENDERS, unicornWith, start, waitUntilServing, childrenOf, cpuMeter, spreadMeter, sleep } = require('../lib/servers.js');

const EVERY = Object.values(CONTENDERS);
/** What every other contender is divided by, unless a scenario names its own. */
const PEERS = ['node:cluster round-robin', 'node:cluster shared-handle', 'PM2 cluster', 'node:http, one process'];

/** The access log to a file of the run's own, removed after it (a run writes tens of megabytes). */
const accessLog = (format) => ({
  name: `, access log${format ? ` (${format})` : ''}`,
  args: (dir) => ['--access-logfile', path.join(dir, 'access.log'), ...(format ? ['--access-logformat', format] : [])],
});

const SYNC_NOTE =
  "unicorn sync serves one request at a time and closes every connection after its response (as Gunicorn's sync workers do), so under a keep-alive load it meets a new connection per request; async is unicorn's class for keep-alive clients.";

const SCENARIOS = {
  'keep-alive': {
    title: 'hello world, keep-alive',
    app: 'hello.js',
    headers: {},
    contenders: EVERY,
    note: SYNC_NOTE,
  },
  churn: {
    title: 'hello world, `Connection: close` on every request (connection churn)',
    app: 'hello.js',
    headers: { connection: 'close' },
    contenders: EVERY,
  },
  json: {
    title: '10 KB JSON response, serialised per request, keep-alive',
    app: 'json.js',
    headers: {},
    contenders: EVERY,
    note: `benchmarks/apps/json.js: a 10,081-byte document of 100 items, JSON.stringify'd for each request (about 30 µs of CPU). ${SYNC_NOTE}`,
  },
  // The access log's cost where it is largest: the most requests a second (keep-alive, async).
  'access-log': {
    title: 'access log on and off (keep-alive)',
    app: 'hello.js',
    headers: {},
    note: `The access log goes to a new file in ${os.tmpdir()} each run (the default format: a line of about 70 bytes), removed after it.`,
    peers: ['unicorn async'],
    contenders: [CONTENDERS['unicorn-async'], unicornWith('unicorn-async', accessLog()), unicornWith('unicorn-async', accessLog('json'))],
  },
  // What trusting a proxy costs per request: nothing trusted (no forwarded code runs), the default
  // (the loopback client is trusted; its requests carry no forwarded headers), the headers applied
  // to every request, and --proxy-protocol read on every connection (from a client sending none).
  proxies: {
    title: 'trusting a proxy (keep-alive)',
    app: 'hello.js',
    headers: {},
    note: 'wrk runs on 127.0.0.1, which the default --forwarded-allow-ips trusts. "headers applied": every request carries X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host, applied to the socket and Host.',
    peers: ['unicorn async, nothing trusted'],
    contenders: [
      unicornWith('unicorn-async', { name: ', nothing trusted', args: () => ['--forwarded-allow-ips', ''] }),
      unicornWith('unicorn-async', { name: ', default', args: () => [] }),
      {
        ...unicornWith('unicorn-async', { name: ', headers applied', args: () => [] }),
        headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
      },
      unicornWith('unicorn-async', { name: ', --proxy-protocol', args: () => ['--proxy-protocol'] }),
    ],
  },
};

const percent = (share) => (Number.isFinite(share) ? `${fmt(share * 100)}%` : 'n/a');

async function measure(contender, scenario, ctx) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-'));
  const server = await start(contender, { port, app: scenario.app, workers: ctx.workers, dir, unicorn: ctx.unicorn });
  try {
    await waitUntilServing(port, server, ctx.workers);
    await sleep(300);
    const spread = await spreadMeter(server);
    // Every process of the contender: the supervisor (which should spend nothing per request) and the workers.
    const cpu = cpuMeter([server.pid, ...childrenOf(server.pid)]);
    const result = await runLoad(ctx.generator, {
      port,
      headers: { ...scenario.headers, ...contender.headers },
      connections: ctx.connections,
      duration: ctx.duration,
    });
    const cpuMs = cpu().reduce((total, ms) => total + ms, 0);
    return { ...result, cpuUs: (cpuMs * 1000) / (result.rps * ctx.duration), busiest: await spread() };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(name, ctx) {
  const scenario = SCENARIOS[name];
  const contenders = ctx.choose(scenario.contenders);
  const runs = await alternate(
    ctx,
    name,
    contenders,
    (contender) => measure(contender, scenario, ctx),
    (r) =>
      `${fmt(r.rps)} req/s, busiest worker ${percent(r.busiest.requests)} of requests, ${percent(r.busiest.cpu)} of CPU, errors ${r.errors}`,
  );
  const summary = new Map(
    [...runs].map(([contender, results]) => {
      const rps = median(results.map((r) => r.rps));
      const mid = results.find((r) => r.rps === rps);
      return [
        contender,
        { rps, p50: mid.p50, p99: mid.p99, cpuUs: mid.cpuUs, busiest: mid.busiest, errors: results.reduce((n, r) => n + r.errors, 0) },
      ];
    }),
  );
  const peers = (scenario.peers ?? PEERS).filter((peer) => summary.has(peer));
  const rows = [...summary].map(([contender, s]) => [
    contender,
    fmt(s.rps),
    fmt(s.p50, 2),
    fmt(s.p99, 2),
    fmt(s.cpuUs, 1),
    percent(s.busiest.requests),
    percent(s.busiest.cpu),
    s.errors,
    ...peers.map((peer) => fmt(s.rps / summary.get(peer).rps, 2)),
  ]);
  const columns = [
    ['contender'],
    ['req/s', 'r'],
    ['p50 ms', 'r'],
    ['p99 ms', 'r'],
    ['CPU µs/req', 'r'],
    ['busiest worker, requests', 'r'],
    ['busiest worker, CPU', 'r'],
    ['errors', 'r'],
    ...peers.map((peer) => [`× ${peer}`, 'r']),
  ];
  return [
    `Load generator: ${ctx.generator}, ${ctx.connections} connections, ${ctx.duration} s a run, ${ctx.rounds} rounds alternating the contenders; the median round is shown, errors are over every round. ${ctx.workers} workers each, serving benchmarks/apps/${scenario.app}. CPU µs/req: the CPU time (user + system, /proc/PID/stat) of every process of the contender — supervisor and workers — over the run, per request served. Busiest worker: its share of the requests served over the run (unicorn, from \`unicorn ctl stats\`) and of the workers' CPU time (/proc; every contender with workers); ${fmt(100 / ctx.workers)}% is an even spread.`,
    ...(scenario.note ? ['', scenario.note] : []),
    '',
    table(columns, rows),
    '',
    // Every round as well as the median: on a shared machine, a round can be an outlier.
    `Every round, req/s: ${[...runs].map(([contender, results]) => `${contender} ${results.map((r) => fmt(r.rps)).join(', ')}`).join('; ')}.`,
  ].join('\n');
}

module.exports = Object.fromEntries(
  Object.entries(SCENARIOS).map(([name, scenario]) => [name, { title: scenario.title, run: (ctx) => run(name, ctx) }]),
);
