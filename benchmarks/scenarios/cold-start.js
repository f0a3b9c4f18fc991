// Scale to zero (--idle-timeout): what the first request after idle waits for, and what is lost.
//
// cold-start: unicorn with --idle-timeout serving hello.js and express-hello.js with 1 and 4 workers,
// each its own server, woken in turns. Each wake-up waits until the arbiter has logged "Idle for …"
// and no worker is left, then opens a fresh connection (GET, Connection: close) and times it from the
// connection to the first byte of the response; as soon as the arbiter logs "Waking: …", a second
// request arrives while the workers are starting, and must get its first byte no later than the
// start under way allows (about when the first one does, not a start later). Then, the CPU the
// arbiter and workers used from that connection until every worker was ready.
//
// wake-ups: --wakeups wake-ups from idle under an intermittent load, with 1 and 4 workers: bursts of
// BURST_LOOPS loops × BURST_REQUESTS requests, each burst after the arbiter stopped the workers for
// idleness. Every failed request is counted. Every RACE_EVERY-th burst begins as the arbiter logs
// "Idle for …", racing the idle stop (its connections must be served, by a worker still draining or
// a new one); the others begin once no worker is left, after a random pause of up to 300 ms.
'use strict';
const { freePort, timedGet } = require('../lib/net-utils.js');
const { fmt, median, percentile, sum, table } = require('../lib/report.js');
const { CONTENDERS, start, waitUntilServing, childrenOf, treeCpuMsOf, sleep } = require('../lib/servers.js');
const { followLog } = require('../lib/unicorn-log.js');

const IDLE_TIMEOUT = '1s';
const IDLE_TIMEOUT_MS = 1000;
/** How long past --idle-timeout the arbiter may take to say it stops the workers, or to stop them. */
const IDLE_GRACE_MS = 10_000;
const BURST_LOOPS = 8;
const BURST_REQUESTS = 10;
const RACE_EVERY = 5;

const IDLE = /^Idle for /;
const WAKING = /^Waking/;
const READY = /^Worker \(pid:\s*\d+\) ready/;

const APPS = { hello: 'hello.js', Express: 'express-hello.js' };

/** unicorn with --idle-timeout, `workers` workers, serving `app` (a key of APPS). */
async function startIdling(ctx, app, workers) {
  const contender = {
    ...CONTENDERS['unicorn-sync'],
    name: `${app}, ${workers} worker${workers > 1 ? 's' : ''}`,
    args: () => ['--idle-timeout', IDLE_TIMEOUT],
    // Express comes from benchmarks/package.json.
    peers: app === 'Express',
  };
  const port = await freePort();
  const server = await start(contender, { port, app: APPS[app], workers, unicorn: ctx.unicorn });
  const log = followLog(server);
  await waitUntilServing(port, server, workers);
  return { name: contender.name, workers, port, server, log, mark: log.mark() };
}

/** Until the arbiter has said it stops the workers for idleness (after `idler.mark`); its entry. */
function idleStop(idler) {
  return idler.log.next(IDLE, {
    mark: idler.mark,
    timeoutMs: IDLE_TIMEOUT_MS + IDLE_GRACE_MS,
    what: `"Idle for …" line (--idle-timeout ${IDLE_TIMEOUT}: this unicorn does not stop idle workers; it predates scale to zero?)`,
  });
}

/** Until no worker of `idler` is left. */
async function noWorkerLeft(idler) {
  const deadline = Date.now() + IDLE_GRACE_MS;
  while (childrenOf(idler.server.pid).length > 0) {
    if (Date.now() > deadline) throw new Error(`${idler.name}: workers still running ${IDLE_GRACE_MS / 1000} s after "Idle for …"`);
    await sleep(10);
  }
}

/** Until `count` workers have logged that they are ready since `mark`. */
async function workersReady(idler, mark, count) {
  const deadline = Date.now() + 30_000;
  while (idler.log.since(mark, READY).length < count) {
    idler.server.checkAlive();
    if (Date.now() > deadline) throw new Error(`${idler.name}: ${count} workers not ready 30 s after a wake-up`);
    await sleep(5);
  }
}

/** One wake-up of an idle server: the first request, one that arrives during the start, and the CPU the wake-up took. */
async function wakeOnce(idler) {
  await idleStop(idler);
  await noWorkerLeft(idler);
  const mark = idler.log.mark();
  const cpuBefore = treeCpuMsOf(idler.server.pid);
  const first = timedGet(idler.port);
  const waking = await idler.log.next(WAKING, { mark, what: '"Waking: …" line after a connection to the idle server' });
  const second = await timedGet(idler.port);
  const a = await first;
  await workersReady(idler, mark, idler.workers);
  const cpuMs = treeCpuMsOf(idler.server.pid) - cpuBefore;
  idler.mark = idler.log.mark();
  return {
    coldMs: a.firstByteAt - a.connectedAt,
    noticedMs: waking.time - a.connectedAt,
    secondWaitMs: second.firstByteAt - second.connectedAt,
    secondAfterFirstMs: second.firstByteAt - a.firstByteAt,
    cpuMs,
    failures: [a.failure, second.failure].filter(Boolean),
  };
}

const distribution = (xs) => [50, 90, 99, 100].map((p) => fmt(percentile(xs, p)));

async function coldStart(ctx) {
  const idlers = [];
  try {
    for (const app of Object.keys(APPS)) for (const workers of [1, 4]) idlers.push(await startIdling(ctx, app, workers));
    const results = new Map(idlers.map((idler) => [idler.name, []]));
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const idler of idlers) {
        const r = await wakeOnce(idler);
        results.get(idler.name).push(r);
        ctx.progress(
          `cold-start ${round}: ${idler.name}: first byte ${fmt(r.coldMs)} ms, second request ${fmt(r.secondWaitMs)} ms (${fmt(r.secondAfterFirstMs)} ms after the first), CPU ${fmt(r.cpuMs)} ms`,
        );
      }
    }
    const rows = [...results].map(([name, rs]) => [
      name,
      String(rs.length),
      ...distribution(rs.map((r) => r.coldMs)),
      fmt(Math.max(0, median(rs.map((r) => r.noticedMs)))),
      `${fmt(median(rs.map((r) => r.secondWaitMs)))} / ${fmt(Math.max(...rs.map((r) => r.secondWaitMs)))}`,
      `${fmt(median(rs.map((r) => r.secondAfterFirstMs)))} / ${fmt(Math.max(...rs.map((r) => r.secondAfterFirstMs)))}`,
      fmt(median(rs.map((r) => r.cpuMs))),
      String(sum(rs.map((r) => r.failures.length))),
    ]);
    const columns = [
      ['server'],
      ['wake-ups', 'r'],
      ['first byte p50 ms', 'r'],
      ['p90', 'r'],
      ['p99', 'r'],
      ['max', 'r'],
      ['"Waking" logged after ms', 'r'],
      ['request during the start: wait p50 / max ms', 'r'],
      ['its first byte after the first request’s, p50 / max ms', 'r'],
      ['CPU a wake-up ms', 'r'],
      ['failed', 'r'],
    ];
    return [
      `unicorn --idle-timeout ${IDLE_TIMEOUT} (worker class sync), serving benchmarks/apps/hello.js or apps/express-hello.js (Express 5), each server woken ${ctx.rounds} times, the servers in turns. Each wake-up: once the arbiter has logged "Idle for …" and no worker is left, a GET on a fresh connection (Connection: close), timed from the connection to the first byte of the response; when the arbiter logs "Waking: …", a second such request, which must not wait for more than the start under way; then the CPU time (user + system) of the arbiter and its workers from the first connection until every worker was ready. "Waking" logged after: from the connection to the time in the arbiter's line (ms resolution). Distribution over the wake-ups (nearest rank: p99 is the maximum below 100 wake-ups).`,
      '',
      table(columns, rows),
    ].join('\n');
  } finally {
    await Promise.all(idlers.map((idler) => idler.server.stop()));
  }
}

/** A burst of BURST_LOOPS loops of BURST_REQUESTS requests each; the first wave's times, and every failure. */
async function burst(port) {
  const firstWave = [];
  const failures = [];
  let requests = 0;
  await Promise.all(
    Array.from({ length: BURST_LOOPS }, async () => {
      for (let i = 0; i < BURST_REQUESTS; i++) {
        const r = await timedGet(port);
        requests++;
        if (i === 0) firstWave.push(r);
        if (r.failure) failures.push(r.failure);
      }
    }),
  );
  const earliest = firstWave.reduce((a, b) => (a.connectedAt <= b.connectedAt ? a : b));
  return {
    requests,
    failures,
    coldMs: earliest.firstByteAt - earliest.connectedAt,
    slowestFirstMs: Math.max(...firstWave.map((r) => r.firstByteAt - r.connectedAt)),
  };
}

async function wakeUps(ctx) {
  const idlers = [];
  try {
    for (const workers of [1, 4]) idlers.push(await startIdling(ctx, 'hello', workers));
    const results = new Map(idlers.map((idler) => [idler.name, { cold: [], racing: [], requests: 0, failures: [] }]));
    const total = ctx.rounds * ctx.wakeups;
    for (let k = 0; k < total; k++) {
      for (const idler of idlers) {
        const result = results.get(idler.name);
        const racing = k % RACE_EVERY === RACE_EVERY - 1;
        await idleStop(idler);
        if (!racing) {
          await noWorkerLeft(idler);
          await sleep(Math.random() * 300);
        }
        const b = await burst(idler.port);
        result.requests += b.requests;
        result.failures.push(...b.failures);
        (racing ? result.racing : result.cold).push(b);
        idler.mark = idler.log.mark();
        ctx.progress(
          `wake-ups ${k + 1}/${total}: ${idler.name}${racing ? ', racing the idle stop' : ''}: first byte ${fmt(b.coldMs)} ms, slowest of the first wave ${fmt(b.slowestFirstMs)} ms, failed ${b.failures.length} of ${b.requests}`,
        );
      }
    }
    const rows = [...results].map(([name, r]) => {
      const idler = idlers.find((i) => i.name === name);
      const kinds = Object.entries(Object.groupBy(r.failures, (f) => f)).map(([kind, list]) => `${kind} ${list.length}`);
      return [
        name,
        String(r.cold.length + r.racing.length),
        String(idler.log.since(0, WAKING).length),
        String(idler.log.since(0, IDLE).length),
        String(r.requests),
        String(r.failures.length),
        kinds.join(', ') || '—',
        ...distribution(r.cold.map((b) => b.coldMs)),
        fmt(Math.max(...r.cold.map((b) => b.slowestFirstMs))),
        r.racing.length ? `${fmt(median(r.racing.map((b) => b.coldMs)))} / ${fmt(Math.max(...r.racing.map((b) => b.coldMs)))}` : '—',
      ];
    });
    const columns = [
      ['server'],
      ['bursts', 'r'],
      ['"Waking" logged', 'r'],
      ['"Idle for" logged', 'r'],
      ['requests', 'r'],
      ['failed', 'r'],
      ['how they failed'],
      ['cold start p50 ms', 'r'],
      ['p90', 'r'],
      ['p99', 'r'],
      ['max', 'r'],
      ['slowest first-wave request ms', 'r'],
      ['racing the idle stop: first byte p50 / max ms', 'r'],
    ];
    return [
      `unicorn --idle-timeout ${IDLE_TIMEOUT} (worker class sync), serving benchmarks/apps/hello.js, ${total} bursts each, the servers in turns. A burst: ${BURST_LOOPS} loops of ${BURST_REQUESTS} GETs each on fresh connections (Connection: close), after the arbiter logged "Idle for …"; one in ${RACE_EVERY} begins at that line, racing the idle stop, the others once no worker is left and a random pause of up to 300 ms. A request failed when its connection was refused, reset or closed before the whole response, no response came within 30 s, or the status was not 200. Cold start: from the burst's first connection to its first byte (bursts that raced the idle stop apart); the slowest first-wave request: the longest any of the burst's first ${BURST_LOOPS} requests, all arriving while the workers start, waited for its first byte.`,
      '',
      table(columns, rows),
    ].join('\n');
  } finally {
    await Promise.all(idlers.map((idler) => idler.server.stop()));
  }
}

module.exports = {
  'cold-start': { title: 'the first request after idle (--idle-timeout): connection to first byte, 1 and 4 workers', run: coldStart },
  'wake-ups': { title: 'wake-ups from idle under an intermittent load: failed requests and the cold-start distribution', run: wakeUps },
};
