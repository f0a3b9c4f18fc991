// Fairness: does a quick request wait behind a slow one while another worker is free? Fast requests,
// each on a new connection, go one after another, beside 30 CPU-bound requests of 100 ms arriving
// every 200 ms (benchmarks/apps/fairness.js). With two workers and one slow request at a time, a
// worker is always free, so a fast request is delayed only if it was given to the busy one. The
// count of fast requests delayed over 50 ms says how often that happened; p99 hides it.
'use strict';
const http = require('node:http');
const { freePort } = require('../lib/net-utils.js');
const { fmt, median, table } = require('../lib/report.js');
const { alternate } = require('../lib/rounds.js');
const { APP_SERVERS, start, waitUntilServing, sleep } = require('../lib/servers.js');

const SLOW_REQUESTS = 30;
const SLOW_EVERY_MS = 200;
const DELAYED_MS = 50;
const TIMEOUT_MS = 10_000;

/** One GET on a new connection; resolves with its time to the end of the response, or an error. */
function timedGet(port, path) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? { ms: performance.now() - t0 } : { error: `status ${res.statusCode}` }));
      res.on('error', (err) => resolve({ error: err.code ?? err.message }));
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (err) => resolve({ error: err.code ?? err.message }));
  });
}

async function measure(contender, ctx) {
  const port = await freePort();
  const server = await start(contender, { port, app: 'fairness.js', workers: ctx.workers, unicorn: ctx.unicorn });
  try {
    await waitUntilServing(port, server, ctx.workers);
    // Warm both paths in every worker, as a server that has been up a while would be.
    for (let i = 0; i < 4 * ctx.workers; i++) await Promise.all([timedGet(port, '/slow'), timedGet(port, '/')]);
    await sleep(300);
    let slowDone = false;
    const t0 = performance.now();
    const slow = Promise.all(
      Array.from({ length: SLOW_REQUESTS }, async (_, i) => {
        await sleep(t0 + i * SLOW_EVERY_MS - performance.now());
        return timedGet(port, '/slow');
      }),
    ).finally(() => (slowDone = true));
    const fast = [];
    while (!slowDone) fast.push(await timedGet(port, '/'));
    const slowResults = await slow;
    const times = fast.filter((r) => r.ms !== undefined).map((r) => r.ms);
    const sorted = [...times].sort((a, b) => a - b);
    return {
      fast: fast.length,
      delayed: times.filter((ms) => ms > DELAYED_MS).length,
      p50: sorted[Math.floor(sorted.length * 0.5)],
      p99: sorted[Math.floor(sorted.length * 0.99)],
      max: sorted.at(-1),
      errors: fast.length - times.length + slowResults.filter((r) => r.error).length,
      slowMs: median(slowResults.filter((r) => r.ms !== undefined).map((r) => r.ms)),
    };
  } finally {
    await server.stop();
  }
}

async function run(ctx) {
  const runs = await alternate(
    ctx,
    'fairness',
    ctx.choose(APP_SERVERS),
    (contender) => measure(contender, ctx),
    (r) => `${r.delayed} of ${r.fast} fast requests over ${DELAYED_MS} ms, errors ${r.errors}`,
  );
  const rows = [...runs].map(([contender, results]) => {
    const delayed = median(results.map((r) => r.delayed));
    const mid = results.find((r) => r.delayed === delayed);
    const errors = results.reduce((n, r) => n + r.errors, 0);
    return [contender, delayed, mid.fast, fmt(mid.p50, 2), fmt(mid.p99, 2), fmt(mid.max, 1), fmt(mid.slowMs, 0), errors];
  });
  const columns = [
    ['contender'],
    [`fast requests delayed > ${DELAYED_MS} ms`, 'r'],
    ['fast requests', 'r'],
    ['fast p50 ms', 'r'],
    ['fast p99 ms', 'r'],
    ['fast max ms', 'r'],
    ['slow median ms', 'r'],
    ['errors', 'r'],
  ];
  return [
    `${ctx.workers} workers each, serving benchmarks/apps/fairness.js. ${SLOW_REQUESTS} requests for /slow (100 ms of CPU each) start every ${SLOW_EVERY_MS} ms, each on a new connection; meanwhile fast requests for / go one after another, each on a new connection, until the last slow one is answered. ${ctx.rounds} rounds alternating the contenders; the round with the median count of delayed fast requests is shown, errors are over every round.`,
    '',
    table(columns, rows),
    '',
    `Every round, fast requests delayed > ${DELAYED_MS} ms: ${[...runs].map(([contender, results]) => `${contender} ${results.map((r) => r.delayed).join(', ')}`).join('; ')}.`,
  ].join('\n');
}

module.exports = { fairness: { title: `fast requests beside ${SLOW_REQUESTS} CPU-bound ones`, run } };
