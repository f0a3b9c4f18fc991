// The adaptive worker count (--workers MIN:MAX) under a step of load: idle, then saturating with
// CPU-bound requests (benchmarks/apps/spin.js, SPIN_MS of CPU each), then idle again, for
// `--workers 1:4` against a fixed 1 and a fixed 4 serving the same app under the same load.
//
// Each round, every contender in turn: IDLE_BEFORE_MS idle, --step-duration seconds of
// lib/closed-loop.js (--connections loops, Connection: close), then twice as long idle: long
// enough, with the defaults, for a scaler that waits 30 s of low load before it shrinks.
// Sampled every SAMPLE_MS: the arbiter's worker processes (/proc; a worker draining still counts).
// From the arbiter's log: its scaling decisions ("Scaling 1 → 2 workers: …"), and so the time it took
// to react to the step up and to the step down. The last round is drawn (workers and load over time)
// as a PNG beside the results file (--out), or in the temporary directory without one.
'use strict';
const { fork } = require('node:child_process');
const { mkdtempSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { timeChart, renderPng } = require('../lib/chart.js');
const { freePort } = require('../lib/net-utils.js');
const { fmt, median, sum, table } = require('../lib/report.js');
const { alternate } = require('../lib/rounds.js');
const { CONTENDERS, start, waitUntilServing, childrenOf, treeCpuMsOf, sleep } = require('../lib/servers.js');
const { followLog } = require('../lib/unicorn-log.js');

const LOAD = path.join(__dirname, '..', 'lib', 'closed-loop.js');
const SPIN_MS = 5;
/** Idle before the step: up to 5 s, shorter only for a short --step-duration (a quick check). */
const IDLE_BEFORE_MS = (stepDuration) => Math.min(5, stepDuration) * 1000;
const SAMPLE_MS = 250;
const SCALING = /^Scaling (\d+) → (\d+) workers?\b/;
const CHART = 'elastic-step.png';

const CONTENDERS_STEP = [
  { workers: '1', name: 'fixed 1 (-w 1)' },
  { workers: '4', name: 'fixed 4 (-w 4)' },
  { workers: '1:4', name: 'adaptive (-w 1:4)' },
].map((c) => ({ ...CONTENDERS['unicorn-sync'], ...c }));

function startLoad(port, connections) {
  const generator = fork(LOAD, ['--port', String(port), '--connections', String(connections), '--close'], { stdio: 'inherit' });
  const result = new Promise((resolve, reject) => {
    generator.once('message', resolve);
    generator.once('exit', (code) => reject(new Error(`the load generator exited with ${code} before its result`)));
  });
  result.catch(() => {});
  return {
    start: () => generator.send('start'),
    stop: () => {
      generator.send('stop');
      return result;
    },
  };
}

async function measure(contender, ctx) {
  const port = await freePort();
  const server = await start(contender, {
    port,
    app: 'spin.js',
    workers: contender.workers,
    env: { SPIN_MS: String(SPIN_MS) },
    unicorn: ctx.unicorn,
  });
  try {
    const log = followLog(server);
    try {
      await waitUntilServing(port, server, 1);
    } catch (err) {
      // A unicorn without the adaptive count refuses `-w 1:4` at start: said in the table, not fatal.
      return { refused: err.message.split('\n').find((line) => /error|refus|not accepted/i.test(line)) ?? err.message.split('\n')[0] };
    }
    const loadMs = ctx.stepDuration * 1000;
    const roundStart = Date.now();
    const samples = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push([(Date.now() - roundStart) / 1000, childrenOf(server.pid).length]);
        await sleep(SAMPLE_MS - ((Date.now() - roundStart) % SAMPLE_MS));
      }
    })();
    const load = startLoad(port, ctx.connections);
    await sleep(IDLE_BEFORE_MS(ctx.stepDuration) - (Date.now() - roundStart));
    const stepUpAt = Date.now();
    const cpuBefore = treeCpuMsOf(server.pid);
    load.start();
    await sleep(loadMs);
    const result = await load.stop();
    const stepDownAt = Date.now();
    const cpuMs = treeCpuMsOf(server.pid) - cpuBefore;
    await sleep(2 * loadMs);
    sampling = false;
    await sampler;
    server.checkAlive();
    const decisions = log.since(0, SCALING).map((e) => {
      const [, from, to] = SCALING.exec(e.msg);
      return { at: e.time, from: Number(from), to: Number(to), msg: e.msg };
    });
    const firstUp = decisions.find((d) => d.at >= stepUpAt && d.to > d.from);
    const firstDown = decisions.find((d) => d.at >= stepDownAt && d.to < d.from);
    return {
      served: result.ok,
      failed: sum(Object.values(result.failures)),
      failures: result.failures,
      p99: result.latency.p99,
      max: result.latency.max,
      cpuUsPerReq: (cpuMs * 1000) / result.ok,
      reactUpS: firstUp ? (firstUp.at - stepUpAt) / 1000 : NaN,
      reactDownS: firstDown ? (firstDown.at - stepDownAt) / 1000 : NaN,
      decisions: decisions.map((d) => ({ ...d, t: (d.at - roundStart) / 1000 })),
      maxWorkers: Math.max(...samples.map(([, n]) => n)),
      samples,
      rps: result.timeline.map(([ok], i) => [
        (stepUpAt - roundStart) / 1000 + ((i + 0.5) * result.timelineMs) / 1000,
        ok / (result.timelineMs / 1000),
      ]),
      stepUpS: (stepUpAt - roundStart) / 1000,
      stepDownS: (stepDownAt - roundStart) / 1000,
      totalS: (Date.now() - roundStart) / 1000,
    };
  } finally {
    await server.stop();
  }
}

function chartOf(last) {
  const measured = [...last].filter(([, r]) => !r.refused);
  if (measured.length === 0) return undefined;
  const [, any] = measured[0];
  const rpsSeries = ([name, r]) => ({ name, points: [[0, 0], [r.stepUpS, 0], ...r.rps, [r.stepDownS, 0], [r.totalS, 0]] });
  return timeChart({
    title: 'elastic-step: worker processes and requests served, last round',
    xMax: Math.ceil(Math.max(...measured.map(([, r]) => r.totalS))),
    bands: [{ from: any.stepUpS, to: any.stepDownS, label: 'load' }],
    panels: [
      { label: 'worker processes', yMax: 5, series: measured.map(([name, r]) => ({ name, step: true, points: r.samples })) },
      { label: 'requests served a second', series: measured.map(rpsSeries) },
    ],
  });
}

async function run(ctx) {
  const runs = await alternate(
    ctx,
    'elastic-step',
    CONTENDERS_STEP,
    (contender) => measure(contender, ctx),
    (r) =>
      r.refused
        ? `not measured: ${r.refused}`
        : `${r.served} served, p99 ${fmt(r.p99)} ms, failed ${r.failed}, reacted in ${fmt(r.reactUpS, 2)} s up and ${fmt(r.reactDownS, 2)} s down, up to ${r.maxWorkers} workers`,
  );
  const fixed4 = median(
    runs
      .get(CONTENDERS_STEP[1].name)
      .filter((r) => !r.refused)
      .map((r) => r.served),
  );
  const rows = [...runs].map(([name, results]) => {
    const measured = results.filter((r) => !r.refused);
    if (measured.length === 0) return [name, `not measured: ${results[0].refused}`, ...Array(8).fill('—')];
    const m = (pick, digits = 0) => fmt(median(measured.map(pick)), digits);
    // A fixed count has nothing to react with.
    const adaptive = CONTENDERS_STEP.find((c) => c.name === name).workers.includes(':');
    const reaction = (pick) => (adaptive ? m(pick, 2) : '—');
    const failures = measured.flatMap((r) => Object.entries(r.failures).map(([kind, n]) => `${kind} ${n}`));
    return [
      name,
      m((r) => r.served),
      fmt(median(measured.map((r) => r.served)) / fixed4, 2),
      m((r) => r.p99),
      m((r) => r.cpuUsPerReq),
      `${sum(measured.map((r) => r.failed))}${failures.length ? ` (${failures.join(', ')})` : ''}`,
      reaction((r) => r.reactUpS),
      reaction((r) => r.reactDownS),
      String(Math.max(...measured.map((r) => r.maxWorkers))),
      measured
        .at(-1)
        .decisions.map((d) => `${fmt(d.t, 1)} s: ${d.from} → ${d.to}`)
        .join('; ') || '—',
    ];
  });
  const columns = [
    ['contender'],
    ['requests served', 'r'],
    ['× fixed 4', 'r'],
    ['p99 ms', 'r'],
    ['CPU µs/req', 'r'],
    ['failed', 'r'],
    ['reacted to the step up s', 'r'],
    ['to the step down s', 'r'],
    ['most workers', 'r'],
    ['scaling, last round (s from its start)'],
  ];
  const last = new Map([...runs].map(([name, results]) => [name, results.at(-1)]));
  const chart = chartOf(last);
  let picture = '';
  if (chart) {
    const dir = ctx.out ? path.dirname(path.resolve(ctx.out)) : mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-elastic-'));
    const file = path.join(dir, CHART);
    if (renderPng(chart, file)) {
      picture = `![Worker processes and requests served over time, last round](${ctx.out ? CHART : file})`;
      ctx.progress(`elastic-step: chart written to ${file}`);
    } else picture = 'No chart: no headless Chromium (/usr/bin/chromium) to render it.';
  }
  const seconds = ctx.stepDuration;
  return [
    `unicorn (worker class sync) serving benchmarks/apps/spin.js (${SPIN_MS} ms of CPU a request) with \`-w 1:4\` against \`-w 1\` and \`-w 4\`, each round every contender in turn. A round: ${IDLE_BEFORE_MS(seconds) / 1000} s idle, ${seconds} s of benchmarks/lib/closed-loop.js (${ctx.connections} loops, Connection: close; saturating on this machine), ${2 * seconds} s idle. Requests served, p99 and failed: over the loaded ${seconds} s; CPU µs/req: the CPU time of the arbiter and every worker (those that exited included) over it, per request served. Reacted: from the step to the arbiter's first "Scaling a → b workers" line in that direction (its time, ms resolution). Most workers: worker processes sampled every ${SAMPLE_MS} ms (/proc; one draining still counts). Medians of ${ctx.rounds} round${ctx.rounds > 1 ? 's' : ''}; failed summed.`,
    '',
    table(columns, rows),
    '',
    picture,
  ].join('\n');
}

module.exports = {
  'elastic-step': { title: 'idle, then a saturating CPU-bound load, then idle: --workers 1:4 against a fixed 1 and 4', run },
};
