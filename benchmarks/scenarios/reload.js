// Reload under load: unicorn's SIGHUP against PM2's `pm2 reload`, serving the same handler with the
// same worker count under the same load, counting the requests each loses while its workers are
// replaced. (node:cluster and a single node:http process have no reload of their own.)
//
// unicorn: the arbiter gets SIGHUP, and a reload is over when it logs "Reload complete" (or "Reload
// failed"). PM2: cluster mode (`pm2 start -i W`) and `pm2 reload`, which returns once the reload is
// over, with a private PM2_HOME, ended with `pm2 kill`; once as an app that exits on SIGINT, as any
// Node app does that does not handle it, and once as one that drains on SIGINT, as PM2's
// documentation asks.
//
// The load is lib/closed-loop.js in a second process: C connections in closed loops, kept alive or
// closed after every request. After a second of warm-up, it is counted for --reload-duration seconds
// (or up to SPREAD_MS after the last reload ended, if that is later), over which the reloads are
// spread evenly, one at a time, each waited for. `--reloads 0` measures the same load without reloads.
// From the last reload's end (or the window's start, without reloads) to the window's end, at least
// SPREAD_MS, how evenly the new workers share the load: a keep-alive connection stays with the worker
// that accepted it, and a reload decides which one that is.
'use strict';
const { fork } = require('node:child_process');
const path = require('node:path');
const { freePort } = require('../lib/net-utils.js');
const { median, sum, table } = require('../lib/report.js');
const { alternate } = require('../lib/rounds.js');
const { fmt } = require('../lib/report.js');
const { CONTENDERS, start, waitUntilServing, spreadMeter, sleep } = require('../lib/servers.js');

const LOAD = path.join(__dirname, '..', 'lib', 'closed-loop.js');
const WARM_UP_MS = 1000;
const TAIL_MS = 1000;
const SPREAD_MS = 3000;

const LOADS = {
  'keep-alive': [],
  close: ['--close'],
};
// unicorn's sync class answers every request with Connection: close, so under a keep-alive load it
// would meet the same connections as under the close load: it runs the close load only.
const CONTENDERS_LOADS = [
  [{ ...CONTENDERS['unicorn-async'], mode: '-k async' }, ['keep-alive', 'close']],
  [{ ...CONTENDERS['unicorn-sync'], mode: '-k sync' }, ['close']],
  [{ ...CONTENDERS.pm2, name: 'PM2, app without SIGINT handler', mode: 'cluster, app without SIGINT handler' }, ['keep-alive', 'close']],
  [
    { ...CONTENDERS.pm2, name: 'PM2, app drains on SIGINT', mode: 'cluster, app drains on SIGINT', graceful: true },
    ['keep-alive', 'close'],
  ],
];

function startLoad(port, load, connections) {
  const generator = fork(LOAD, ['--port', String(port), '--connections', String(connections), ...LOADS[load]], { stdio: 'inherit' });
  const result = new Promise((resolve, reject) => {
    generator.once('message', resolve);
    generator.once('exit', (code, signal) => reject(new Error(`the load generator exited with ${code ?? signal} before its result`)));
  });
  result.catch(() => {}); // read, or the run failed for another reason first
  return {
    start: () => generator.send('start'),
    stop: () => {
      generator.send('stop');
      return result;
    },
    kill: () => generator.kill('SIGKILL'),
  };
}

async function measure(contender, load, ctx) {
  const durationMs = ctx.reloadDuration * 1000;
  const port = await freePort();
  const server = await start(contender, { port, app: 'hello.js', workers: ctx.workers, unicorn: ctx.unicorn });
  try {
    await waitUntilServing(port, server, ctx.workers);
    const generator = startLoad(port, load, ctx.connections);
    try {
      await sleep(WARM_UP_MS);
      generator.start();
      const t0 = performance.now();
      const reloads = [];
      let spread = await spreadMeter(server);
      for (let i = 0; i < ctx.reloads; i++) {
        await sleep(t0 + ((i + 0.5) * durationMs) / ctx.reloads - performance.now());
        const sent = performance.now() - t0;
        const outcome = await server.reload();
        reloads.push({ sent, done: performance.now() - t0, outcome });
        if (i === ctx.reloads - 1) spread = await spreadMeter(server);
      }
      const lastDone = reloads.at(-1)?.done ?? 0;
      await sleep(Math.max(durationMs, lastDone + SPREAD_MS) - (performance.now() - t0));
      server.checkAlive();
      const busiest = await spread();
      return { reloads, busiest, ...(await generator.stop()) };
    } finally {
      generator.kill();
    }
  } finally {
    await server.stop();
  }
}

/** Which reload each failed request was sent during (or just after), to tell whether reloads caused them. */
function failuresByReload(result) {
  const counts = result.reloads.map(() => 0);
  let outside = 0;
  for (const t of result.failureTimes) {
    const i = result.reloads.findIndex((r) => t >= r.sent && t <= r.done + TAIL_MS);
    if (i === -1) outside++;
    else counts[i]++;
  }
  return `failures during/just after each reload: [${counts.join(', ')}], at other times: ${outside}`;
}

/** One contender's row for one load, over every round: reloads, requests and failures summed; req/s the median round's. */
function row(contender, load, results) {
  const reloads = results.flatMap((r) => r.reloads);
  const completed = reloads.filter((r) => r.outcome === 'complete').length;
  const reloadCount = completed === reloads.length ? String(completed) : `${completed} (${reloads.length - completed} failed)`;
  const reloadSeconds = reloads.length ? (median(reloads.map((r) => r.done - r.sent)) / 1000).toFixed(2) : '—';
  const failures = {};
  for (const result of results) for (const [kind, n] of Object.entries(result.failures)) failures[kind] = (failures[kind] ?? 0) + n;
  const failed = sum(Object.values(failures));
  const kinds = Object.entries(failures)
    .sort(([, a], [, b]) => b - a)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const reusedCount = sum(results.map((r) => r.onReusedSocket));
  const reused = reusedCount ? `; ${reusedCount} on a reused keep-alive socket` : '';
  const rps = median(results.map((r) => r.ok / (r.elapsedMs / 1000)));
  const name = contender.kind === 'pm2' ? 'PM2' : 'unicorn';
  // The round of the median share, requests where the contender counts them, else CPU.
  const share = (r) => (Number.isFinite(r.busiest.requests) ? r.busiest.requests : r.busiest.cpu);
  const middle = median(results.map(share));
  const busiest = results.find((r) => share(r) === middle)?.busiest;
  return [
    name,
    contender.mode,
    load,
    reloadCount,
    reloadSeconds,
    sum(results.map((r) => r.ok)),
    rps.toFixed(0),
    percent(busiest?.requests),
    percent(busiest?.cpu),
    failed,
    failures.refused ?? 0,
    kinds ? kinds + reused : '—',
  ];
}

const percent = (share) => (Number.isFinite(share) ? `${fmt(share * 100)}%` : 'n/a');

const describe = (result) => {
  const reloadTimes = result.reloads.map((r) => `${(r.sent / 1000).toFixed(1)}–${(r.done / 1000).toFixed(1)} s ${r.outcome}`);
  const warmUp = result.beforeWindow
    ? `; and ${result.beforeWindow} failures during the warm-up, before any reload (not in the table)`
    : '';
  const busiest = `busiest worker after the last reload ${percent(result.busiest.requests)} of requests, ${percent(result.busiest.cpu)} of CPU`;
  return `${result.ok} ok, ${busiest}, failures ${JSON.stringify(result.failures)}; reloads ${reloadTimes.join(', ')}; ${failuresByReload(result)}${warmUp}`;
};

async function run(ctx) {
  const rows = [];
  for (const load of Object.keys(LOADS)) {
    const contenders = CONTENDERS_LOADS.filter(([contender, loads]) => loads.includes(load) && ctx.choose([contender]).length > 0).map(
      ([contender]) => contender,
    );
    const runs = await alternate(ctx, `reload, ${load}`, contenders, (contender) => measure(contender, load, ctx), describe);
    for (const contender of contenders) rows.push(row(contender, load, runs.get(contender.name)));
  }
  const columns = [
    ['contender'],
    ['mode'],
    ['load'],
    ['reloads', 'r'],
    ['reload s, median', 'r'],
    ['requests', 'r'],
    ['req/s', 'r'],
    ['busiest worker after, requests', 'r'],
    ['busiest worker after, CPU', 'r'],
    ['failed', 'r'],
    ['refused', 'r'],
    ['how they failed'],
  ];
  return [
    `${ctx.workers} workers each, serving benchmarks/apps/hello.js (PM2: benchmarks/apps/listen.js, the same handler listening itself). ` +
      `Load: benchmarks/lib/closed-loop.js, ${ctx.connections} connections in closed loops; keep-alive, or \`Connection: close\` on every request. ` +
      `Each round, ${ctx.reloads} reloads spread over ${ctx.reloadDuration} s, one at a time, each waited for (unicorn: SIGHUP until the arbiter logs "Reload complete"; PM2: \`pm2 reload\`). ` +
      `Counted over ${ctx.reloadDuration} s (or to ${SPREAD_MS / 1000} s after the last reload ended, if later) after a second of warm-up. ` +
      `Busiest worker after: from the end of the last reload to the end of the count, the busiest worker's share of the requests (unicorn, from \`unicorn ctl stats\`) and of the workers' CPU time (/proc), the round with the median share; ${fmt(100 / ctx.workers)}% is an even spread. ` +
      `${ctx.rounds} rounds alternating the contenders: reloads, requests and failures are summed over the rounds, req/s is the median round's. node:cluster and a single node:http process have no reload of their own.`,
    '',
    table(columns, rows),
    '',
    'A request succeeded when its whole 2xx response arrived (a server that answers `Connection: close` and then closes has done nothing wrong). ' +
      'It failed when the connection was refused, reset or closed before the whole response, a write failed, no response came within 10 s, or the status was not 2xx. ' +
      'A loop pauses 10 ms after a failure, so a refused port costs about as many requests as the clients would have sent. ' +
      'req/s counts the successful requests. ' +
      'reload s: for unicorn, until "Reload complete" (every new worker ready; the old ones then finish their requests and exit); ' +
      'for PM2, until `pm2 reload` returns (each old worker exited after its replacement listened; PM2 replaces two at a time). ' +
      '"On a reused keep-alive socket": sent on a connection that had already served a request; a browser resends an idempotent request that fails so before any response arrives, Node\'s http client does not.',
  ].join('\n');
}

module.exports = { reload: { title: 'reload under load', run } };
