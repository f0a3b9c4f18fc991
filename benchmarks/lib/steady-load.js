// Steady load, the method of the throughput, static-file and mount scenarios: every contender serves
// the same thing with the same worker count under the same load from wrk (or autocannon), round after
// round, alternating the contenders so that a slow spell of a shared machine falls on all of them;
// the median round of each is shown, with its ratios to the peers the scenario names.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./net-utils.js');
const { runLoad } = require('./http-load.js');
const { fmt, median, table } = require('./report.js');
const { alternate } = require('./rounds.js');
const { start, waitUntilServing, childrenOf, cpuMeter, spreadMeter, sleep } = require('./servers.js');

/** Why unicorn sync is slow under a keep-alive load, said under each scenario that loads it so. */
const SYNC_NOTE =
  "unicorn sync serves one request at a time and closes every connection after its response (as Gunicorn's sync workers do), so under a keep-alive load it meets a new connection per request; async is unicorn's class for keep-alive clients.";

const percent = (share) => (Number.isFinite(share) ? `${fmt(share * 100)}%` : 'n/a');

/** One figure of every round, contender by contender, for the line under the table. */
const everyRound = (runs, figure) => [...runs].map(([contender, results]) => `${contender} ${results.map(figure).join(', ')}`).join('; ');

/** The request target of `contender` in `scenario`: its own, the scenario's, or /. */
const targetOf = (contender, scenario) => contender.path ?? scenario.path ?? '/';

async function measure(contender, scenario, ctx) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-'));
  const target = targetOf(contender, scenario);
  const server = await start(contender, { port, app: scenario.app, workers: ctx.workers, dir, env: scenario.env, unicorn: ctx.unicorn });
  try {
    await waitUntilServing(port, server, ctx.workers, { path: target, bytes: scenario.bytes });
    await sleep(300);
    const spread = await spreadMeter(server);
    // Every process of the contender: the supervisor (which should spend nothing per request) and the workers.
    const cpu = cpuMeter([server.pid, ...childrenOf(server.pid)]);
    const result = await runLoad(ctx.generator, {
      port,
      path: target,
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

/**
 * The ratio columns of `scenario`: `ratios`, each `{ heading, peer: (contender) => the peer's name,
 * of: 'rps' or 'cpuUs' }` (a peer per row, e.g. the one of the same worker class), or else one
 * column of requests a second for each name of `peers`.
 */
function ratiosOf(scenario, defaultPeers) {
  return scenario.ratios ?? (scenario.peers ?? defaultPeers).map((name) => ({ heading: name, peer: () => name, of: 'rps' }));
}

/**
 * Run `scenario` (`app`, optionally `path`, `bytes`, `env`, `headers`, `contenders`, `note`,
 * `serving`, `peers` or `ratios`) as `name`; resolves with its section of the results, less the heading.
 */
async function runSteadyLoad(name, scenario, ctx, defaultPeers = []) {
  const contenders = ctx.choose(scenario.contenders);
  const runs = await alternate(
    ctx,
    name,
    contenders,
    (contender) => measure(contender, scenario, ctx),
    (r) =>
      `${fmt(r.rps)} req/s, ${fmt(r.cpuUs, 1)} µs CPU/req, busiest worker ${percent(r.busiest.requests)} of requests, ${percent(r.busiest.cpu)} of CPU, errors ${r.errors}`,
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
  // A column only where some row's peer was measured (--contender may leave peers out).
  const ratios = ratiosOf(scenario, defaultPeers).filter((ratio) => contenders.some((c) => summary.has(ratio.peer(c))));
  const ratioCell = (contender, { peer, of }) => {
    const mine = summary.get(contender.name)[of];
    const theirs = summary.get(peer(contender))?.[of];
    return theirs === undefined ? '—' : fmt(mine / theirs, 2);
  };
  const rows = contenders.map((contender) => {
    const s = summary.get(contender.name);
    return [
      contender.name,
      fmt(s.rps),
      fmt(s.p50, 2),
      fmt(s.p99, 2),
      fmt(s.cpuUs, 1),
      percent(s.busiest.requests),
      percent(s.busiest.cpu),
      s.errors,
      ...ratios.map((ratio) => ratioCell(contender, ratio)),
    ];
  });
  const columns = [
    ['contender'],
    ['req/s', 'r'],
    ['p50 ms', 'r'],
    ['p99 ms', 'r'],
    ['CPU µs/req', 'r'],
    ['busiest worker, requests', 'r'],
    ['busiest worker, CPU', 'r'],
    ['errors', 'r'],
    ...ratios.map(({ heading, of }) => [of === 'cpuUs' ? `CPU/req × ${heading}` : `× ${heading}`, 'r']),
  ];
  const serving = scenario.serving ?? `benchmarks/apps/${scenario.app}`;
  return [
    `Load generator: ${ctx.generator}, ${ctx.connections} connections, ${ctx.duration} s a run, ${ctx.rounds} rounds alternating the contenders; the median round is shown, errors are over every round. ${ctx.workers} workers each, serving ${serving}. CPU µs/req: the CPU time (user + system, /proc/PID/stat) of every process of the contender — supervisor and workers — over the run, per request served. Busiest worker: its share of the requests served over the run (unicorn, from \`unicorn ctl stats\`) and of the workers' CPU time (/proc; every contender with workers); ${fmt(100 / ctx.workers)}% is an even spread.`,
    ...(scenario.note ? ['', scenario.note] : []),
    '',
    table(columns, rows),
    '',
    // Every round as well as the median: on a shared machine, a round can be an outlier.
    `Every round, req/s: ${everyRound(runs, (r) => fmt(r.rps))}.`,
    `Every round, CPU µs/req: ${everyRound(runs, (r) => fmt(r.cpuUs, 1))}.`,
  ].join('\n');
}

module.exports = { runSteadyLoad, SYNC_NOTE };
