// Start-up and standing cost: the time from launch to the first successful response with 4 workers;
// then, with every worker up and each having served a few requests, the resident memory of the
// supervising process (unicorn's arbiter, the node:cluster primary, the PM2 daemon) and of each
// worker against a bare node:http process serving the same app, and the CPU each uses over a few
// seconds of idling (--idle).
'use strict';
const { freePort, get } = require('../lib/net-utils.js');
const { fmt, mb, median, table } = require('../lib/report.js');
const { alternate } = require('../lib/rounds.js');
const { APP_SERVERS, start, childrenOf, rssOf, cpuMeter, sleep } = require('../lib/servers.js');

const WORKERS = 4;
const BARE = 'node:http, one process';

async function measure(contender, ctx) {
  const port = await freePort();
  const server = await start(contender, { port, app: 'hello.js', workers: WORKERS, unicorn: ctx.unicorn });
  try {
    const deadline = performance.now() + 30_000;
    while (!(await get(port))) {
      server.checkAlive();
      if (performance.now() > deadline) throw new Error(`${server.label} did not answer within 30 s`);
      await sleep(2);
    }
    const firstResponseMs = performance.now() - server.started;
    const single = contender.kind === 'single';
    let workers = single ? [] : childrenOf(server.pid);
    while (!single && workers.length < WORKERS) {
      if (performance.now() > deadline) throw new Error(`${server.label} has ${workers.length} of ${WORKERS} workers after 30 s`);
      await sleep(20);
      workers = childrenOf(server.pid);
    }
    // Every worker serves a few requests, and start-up's garbage has time to be collected.
    for (let i = 0; i < 20 * WORKERS; i++) await get(port);
    await sleep(1000);
    const cpu = cpuMeter([server.pid, ...workers]);
    const idleMs = ctx.idleSeconds * 1000;
    await sleep(idleMs);
    const cpuPercent = cpu().map((ms) => (ms / idleMs) * 100);
    return {
      firstResponseMs,
      supervisorRss: single ? undefined : rssOf(server.pid),
      workerRss: single ? [rssOf(server.pid)] : workers.map(rssOf),
      supervisorCpu: single ? undefined : cpuPercent[0],
      workerCpu: single ? cpuPercent : cpuPercent.slice(1),
    };
  } finally {
    await server.stop();
  }
}

async function run(ctx) {
  const runs = await alternate(
    ctx,
    'startup',
    ctx.choose(APP_SERVERS),
    (contender) => measure(contender, ctx),
    (r) => `first response ${fmt(r.firstResponseMs)} ms, workers ${r.workerRss.map(mb).join(', ')} MB`,
  );
  const summary = new Map(
    [...runs].map(([contender, results]) => {
      const workerRss = median(results.flatMap((r) => r.workerRss));
      const optional = (pick) => (results[0][pick] === undefined ? undefined : median(results.map((r) => r[pick])));
      return [
        contender,
        {
          firstResponseMs: median(results.map((r) => r.firstResponseMs)),
          supervisorRss: optional('supervisorRss'),
          workerRss,
          supervisorCpu: optional('supervisorCpu'),
          workerCpu: median(results.flatMap((r) => r.workerCpu)),
        },
      ];
    }),
  );
  const bare = summary.get(BARE)?.workerRss;
  const rows = [...summary].map(([contender, s]) => [
    contender,
    fmt(s.firstResponseMs),
    s.supervisorRss === undefined ? '—' : mb(s.supervisorRss),
    mb(s.workerRss),
    bare === undefined ? 'n/a' : `${s.workerRss >= bare ? '+' : ''}${mb(s.workerRss - bare)}`,
    s.supervisorCpu === undefined ? '—' : fmt(s.supervisorCpu, 2),
    fmt(s.workerCpu, 2),
  ]);
  const columns = [
    ['contender'],
    ['launch to first response ms', 'r'],
    ['supervisor RSS MB', 'r'],
    ['worker RSS MB', 'r'],
    [`worker − ${BARE} MB`, 'r'],
    ['supervisor idle CPU %', 'r'],
    ['worker idle CPU %', 'r'],
  ];
  return [
    `${WORKERS} workers each (the node:http process is one process, the reference), serving benchmarks/apps/hello.js. Launch to first response: from spawning the command (for PM2, \`pm2 start\`, which also starts its daemon) to the first 200, polling every 2 ms. Then, once every worker is up, ${20 * WORKERS} requests and a second's rest: resident memory (VmRSS) of the supervisor (unicorn's arbiter, the cluster primary, the PM2 daemon) and of each worker, and the CPU each uses over ${ctx.idleSeconds} s of idling, as a percentage of one core. Medians over ${ctx.rounds} rounds (worker figures: over every worker of every round).`,
    '',
    table(columns, rows),
  ].join('\n');
}

module.exports = { startup: { title: `start-up time, memory and idle CPU with ${WORKERS} workers`, run } };
