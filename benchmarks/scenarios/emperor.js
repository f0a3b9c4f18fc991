// Many apps on one host: `unicorn emperor DIR` with --vassals hello-world vassals (benchmarks/apps/hello.js),
// each on demand on a unix socket of its own, leaving after --vassal-idle without a request.
//
// In one run, against one emperor:
// 1. memory: the emperor alone with every vassal held (its RSS, and its process tree's), then with
//    AWAKE vassals woken (the tree, and per awake vassal);
// 2. cold starts: every vassal woken once, one after another (the first AWAKE of them are the ones
//    of 1), timed from the connection to the first byte; then, once all are idle again, groups of
//    CONCURRENT cold vassals woken at once; the emperor's CPU per wake-up;
// 3. a wandering load for --load-duration seconds: WANDER_CLIENTS clients, HOT_SHARE of the requests
//    on a few hot vassals, the rest spread over the others so that each is hit about once every
//    TAIL_GAP × the idle timeout, so that they keep waking and leaving; every failure counted;
// 4. a new file: NEW_FILE_SAMPLES vassal files written into DIR, not on demand and on demand, timed
//    to the emperor's line that it started (or holds) the vassal, and to the first 200 on its socket.
'use strict';
const { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { timedGet } = require('../lib/net-utils.js');
const { fmt, mb, median, percentile, table } = require('../lib/report.js');
const { childrenOf, cpuMsOf, memoryOf, sleep, startGroup, treeMemoryOf } = require('../lib/servers.js');
const { followLog } = require('../lib/unicorn-log.js');

const HELLO = path.resolve(__dirname, '..', 'apps', 'hello.js');
const AWAKE = 10;
const CONCURRENT = 5;
const CONCURRENT_GROUPS = 10;
const WANDER_CLIENTS = 4;
const HOT_SHARE = 0.9;
/** The hot vassals: this share of them (at least one). */
const HOT_FRACTION = 0.05;
/** Each cold vassal is hit about once every TAIL_GAP × the idle timeout: most hits find it gone. */
const TAIL_GAP = 2.5;
const NEW_FILE_SAMPLES = 5;
/** How long past its idle timeout a vassal may take to leave (the arbiter checks idleness now and then). */
const LEAVE_GRACE_MS = 20_000;

const STARTED = /^Vassal (\S+) started/;
const LEFT = /^Vassal (\S+) left while idle/;
const EXITED = /^Vassal (\S+) \(pid: \d+\): /;
const HELD = /^Vassal (\S+) waits for its first connection/;

const distribution = (xs) => [50, 90, 99, 100].map((p) => fmt(percentile(xs, p)));
const names = (count) => Array.from({ length: count }, (_, i) => `app${String(i).padStart(3, '0')}`);

/** The emperor on a fresh directory of `count` on-demand vassals; its log followed, which vassal runs tracked. */
async function startEmperor(ctx, count) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-emperor-'));
  const dir = path.join(root, 'vassals');
  const sockets = path.join(root, 'sockets');
  mkdirSync(dir);
  mkdirSync(sockets);
  const writeVassal = (name, extra = {}) => {
    const file = path.join(dir, `${name}.config.json`);
    const config = { app: HELLO, bind: `unix:${sockets}/%n.sock`, workers: 1, ...extra };
    writeFileSync(file, JSON.stringify(config));
    return file;
  };
  for (const name of names(count)) writeVassal(name, { onDemand: true, idleTimeout: ctx.vassalIdle });
  const args = [ctx.unicorn, 'emperor', dir, '--control-socket', path.join(root, 'ctl.sock'), '--log-format', 'json'];
  const server = startGroup('unicorn emperor', [process.execPath, args], { UNICORN_LOG_LEVEL: 'info' });
  const log = followLog(server);
  // Which vassals run now, by the emperor's own lines.
  const running = new Set();
  server.lines.on('line', (text) => {
    const msg = /"msg":"(Vassal [^"]*)"/.exec(text)?.[1];
    if (!msg || !text.includes('"role":"emperor"')) return;
    const started = STARTED.exec(msg)?.[1];
    if (started) running.add(started);
    const gone = (LEFT.exec(msg) ?? EXITED.exec(msg))?.[1];
    if (gone) running.delete(gone);
  });
  const emperor = {
    server,
    log,
    running,
    socket: (name) => path.join(sockets, `${name}.sock`),
    writeVassal,
    dir,
    async stop() {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 60_000;
  while (log.since(0, HELD).length < count) {
    server.checkAlive();
    if (Date.now() > deadline) throw new Error(`the emperor holds ${log.since(0, HELD).length} of ${count} vassals after 60 s`);
    await sleep(20);
  }
  return emperor;
}

/** Until no vassal runs: each has left for idleness (or exited), and the emperor has no child left. */
async function allIdle(ctx, emperor) {
  const deadline = Date.now() + ctx.vassalIdleMs + LEAVE_GRACE_MS;
  while (emperor.running.size > 0 || childrenOf(emperor.server.pid).length > 0) {
    emperor.server.checkAlive();
    if (Date.now() > deadline)
      throw new Error(`vassals ${[...emperor.running].join(', ')} still run ${LEAVE_GRACE_MS / 1000} s past their idle timeout`);
    await sleep(50);
  }
}

/** One request to a vassal that must be cold now: its time to first byte, and what failed. */
async function wake(emperor, name) {
  if (emperor.running.has(name)) throw new Error(`vassal ${name} runs: it was to be woken cold`);
  const r = await timedGet(emperor.socket(name));
  return { name, coldMs: r.firstByteAt - r.connectedAt, doneAt: r.doneAt, failure: r.failure };
}

const memoryRow = (what, { rss, pss }, processes) => [what, mb(rss), mb(pss), String(processes)];

/** 1 and 2: memory with all idle and with AWAKE awake, then every vassal woken once, then groups at once. */
async function memoryAndColdStarts(ctx, emperor, count) {
  const emperorPid = emperor.server.pid;
  await sleep(1000);
  const idleTree = treeMemoryOf(emperorPid);
  const memory = [
    memoryRow(`all ${count} idle: the emperor process`, memoryOf(emperorPid), 1),
    memoryRow(`all ${count} idle: the emperor's process tree`, idleTree, idleTree.processes),
  ];
  const sequential = [];
  const mark = emperor.log.mark();
  const cpuBefore = cpuMsOf(emperorPid);
  const awake = Math.min(AWAKE, count);
  for (const [i, name] of names(count).entries()) {
    sequential.push(await wake(emperor, name));
    if (i === awake - 1) {
      const tree = treeMemoryOf(emperorPid);
      const own = memoryOf(emperorPid);
      const vassals = childrenOf(emperorPid).length;
      const each = { rss: (tree.rss - own.rss) / vassals, pss: (tree.pss - own.pss) / vassals };
      memory.push(memoryRow(`${awake} woken, ${vassals} of them still awake: the tree`, tree, tree.processes));
      memory.push(memoryRow('per awake vassal, its arbiter and worker: (tree − emperor) / awake', each, 2));
    }
  }
  const cpuPerWake = (cpuMsOf(emperorPid) - cpuBefore) / count;
  ctx.progress(`emperor: ${count} sequential cold starts, first byte p50 ${fmt(median(sequential.map((r) => r.coldMs)))} ms`);
  await allIdle(ctx, emperor);
  // How long a vassal woken by one request stays, from its response to the emperor's line that it left.
  const left = new Map(emperor.log.since(mark, LEFT).map((entry) => [LEFT.exec(entry.msg)[1], entry.time]));
  const lingerMs = sequential.filter((r) => left.has(r.name)).map((r) => left.get(r.name) - r.doneAt);
  const size = Math.min(CONCURRENT, count);
  const groups = Math.max(1, Math.min(CONCURRENT_GROUPS, Math.floor(count / size)));
  const concurrent = [];
  for (let g = 0; g < groups; g++) {
    const group = names(count).slice(g * size, (g + 1) * size);
    concurrent.push(...(await Promise.all(group.map((name) => wake(emperor, name)))));
  }
  ctx.progress(`emperor: ${groups} groups of ${size} at once, first byte p50 ${fmt(median(concurrent.map((r) => r.coldMs)))} ms`);
  return { memory, sequential, concurrent, size, groups, cpuPerWake, lingerMs };
}

/** A vassal for the wandering load: one of the hot ones HOT_SHARE of the time, else any of the others. */
function chooser(count) {
  const all = names(count);
  const hot = Math.max(1, Math.round(count * HOT_FRACTION));
  const cold = all.slice(hot);
  return {
    hot,
    cold: cold.length,
    pick: () =>
      cold.length === 0 || Math.random() < HOT_SHARE ? all[Math.floor(Math.random() * hot)] : cold[Math.floor(Math.random() * cold.length)],
  };
}

/** 3: the wandering load; every request's time to first byte, and every failure with its vassal. */
async function wander(ctx, emperor, count) {
  const choose = chooser(count);
  // The rate that hits each cold vassal about once every TAIL_GAP idle timeouts, the hot ones taking the rest.
  const rate = Math.max(5, choose.cold / ((TAIL_GAP * ctx.vassalIdleMs) / 1000) / (1 - HOT_SHARE));
  const meanPauseMs = (1000 * WANDER_CLIENTS) / rate;
  const mark = emperor.log.mark();
  const cpuBefore = cpuMsOf(emperor.server.pid);
  const times = [];
  const failures = [];
  const started = performance.now();
  const end = started + ctx.loadDuration * 1000;
  await Promise.all(
    Array.from({ length: WANDER_CLIENTS }, async () => {
      while (performance.now() < end) {
        const name = choose.pick();
        const r = await timedGet(emperor.socket(name));
        if (r.failure) failures.push(`${name}: ${r.failure}`);
        else times.push(r.firstByteAt - r.connectedAt);
        await sleep(-meanPauseMs * Math.log(1 - Math.random()));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMs = cpuMsOf(emperor.server.pid) - cpuBefore;
  const wakeUps = emperor.log.since(mark, STARTED).length;
  const leaves = emperor.log.since(mark, LEFT).length;
  ctx.progress(
    `emperor: wandering load, ${times.length + failures.length} requests, ${failures.length} failed, ${wakeUps} wake-ups, ${leaves} idle exits`,
  );
  return { choose, rate, seconds, cpuMs, times, failures, wakeUps, leaves, awakeAtEnd: childrenOf(emperor.server.pid).length };
}

/** 4: a vassal file written into DIR: until the emperor says it started (holds) it, and until its socket answers 200. */
async function newFile(emperor, name, onDemand, idle) {
  const mark = emperor.log.mark();
  const now = () => performance.timeOrigin + performance.now();
  const writtenAt = now();
  const file = emperor.writeVassal(name, onDemand ? { onDemand: true, idleTimeout: idle } : {});
  const logged = onDemand ? `^Vassal ${name} waits for its first connection` : `^Vassal ${name} started`;
  const line = await emperor.log.next(new RegExp(logged), { mark, what: `"${logged.slice(1)}" line after its file was written` });
  const deadline = Date.now() + 30_000;
  let answeredAt;
  for (;;) {
    const r = await timedGet(emperor.socket(name), '/', 5000);
    if (!r.failure) {
      answeredAt = r.firstByteAt;
      break;
    }
    if (Date.now() > deadline) throw new Error(`vassal ${name} (new file) did not answer 200 within 30 s: ${r.failure}`);
    await sleep(5);
  }
  unlinkSync(file);
  await emperor.log.next(new RegExp(`^Vassal ${name} removed`), { mark, what: `"Vassal ${name} removed" after its file was deleted` });
  return { noticedMs: line.time - writtenAt, answeredMs: answeredAt - writtenAt };
}

async function run(ctx) {
  const count = ctx.vassals;
  const emperor = await startEmperor(ctx, count);
  try {
    const cold = await memoryAndColdStarts(ctx, emperor, count);
    const load = await wander(ctx, emperor, count);
    const endMemory = memoryOf(emperor.server.pid);
    const fresh = { fixed: [], onDemand: [] };
    for (let k = 0; k < NEW_FILE_SAMPLES; k++) {
      fresh.fixed.push(await newFile(emperor, `new-fixed-${k}`, false));
      fresh.onDemand.push(await newFile(emperor, `new-on-demand-${k}`, true, ctx.vassalIdle));
    }
    ctx.progress(`emperor: new files noticed after p50 ${fmt(median(fresh.fixed.map((r) => r.noticedMs)))} ms`);
    cold.memory.push(memoryRow(`the emperor process after the wandering load (${load.awakeAtEnd} vassals awake)`, endMemory, 1));
    const failures = (rs) => rs.filter((r) => r.failure).map((r) => `${r.name}: ${r.failure}`);
    const coldRows = [
      [`each of the ${count} woken once, one after another`, cold.sequential],
      [`${cold.size} woken at once, ${cold.groups} time${cold.groups > 1 ? 's' : ''} (other vassals each time)`, cold.concurrent],
    ].map(([what, rs]) => {
      const failed = failures(rs);
      const ok = rs.filter((r) => !r.failure).map((r) => r.coldMs);
      return [what, String(rs.length), ...distribution(ok), String(failed.length), failed.slice(0, 5).join('; ') || '—'];
    });
    const kinds = Object.entries(Object.groupBy(load.failures, (f) => f.replace(/^\S+: /, ''))).map(([k, l]) => `${k} ${l.length}`);
    const loadRow = [
      fmt(load.seconds),
      String(WANDER_CLIENTS),
      `${load.choose.hot} / ${load.choose.cold}`,
      fmt(load.rate),
      String(load.times.length + load.failures.length),
      fmt((load.times.length + load.failures.length) / load.seconds, 1),
      String(load.failures.length),
      kinds.length ? `${kinds.join(', ')} (first: ${load.failures.slice(0, 3).join('; ')})` : '—',
      String(load.wakeUps),
      String(load.leaves),
      fmt(load.cpuMs / load.wakeUps, 1),
      fmt(percentile(load.times, 50), 1),
      fmt(percentile(load.times, 99)),
      fmt(percentile(load.times, 100)),
    ];
    const p50max = (xs) => `${fmt(median(xs))} / ${fmt(Math.max(...xs))}`;
    const freshRows = [
      ['not on demand (started at once)', fresh.fixed],
      ['on demand (its socket held; the first request starts it)', fresh.onDemand],
    ].map(([what, rs]) => [what, String(rs.length), p50max(rs.map((r) => r.noticedMs)), p50max(rs.map((r) => r.answeredMs))]);
    return [
      `\`unicorn emperor DIR\` with ${count} vassals in DIR, each \`{"app": "benchmarks/apps/hello.js", "bind": "unix:…/%n.sock", "workers": 1, "onDemand": true, "idleTimeout": "${ctx.vassalIdle}"}\`, the emperor logging JSON at level info. Requests: GET on a fresh unix-socket connection (Connection: close), timed from the connection to the first byte of the response; a request failed when its connection was refused or reset, closed before the whole response, no response came within 30 s, or the status was not 200. Percentiles by nearest rank (p99 is the maximum below 100 samples).`,
      '',
      `**Memory** (from /proc/PID/smaps_rollup: RSS, and PSS, which divides the pages processes share, such as node's own, among them; the tree: the emperor and every process under it). The first ${Math.min(AWAKE, count)} vassals are woken one after another, then measured at once.`,
      '',
      table([['what'], ['RSS MB', 'r'], ['PSS MB', 'r'], ['processes', 'r']], cold.memory),
      '',
      `**First request to a cold vassal**: connection to first byte. The emperor's CPU time (user + system) over the sequential wake-ups, per wake-up: ${fmt(cold.cpuPerWake, 1)} ms (this includes its share of the awake vassals' reports and idle exits meanwhile).`,
      '',
      table(
        [
          ['cold starts'],
          ['wake-ups', 'r'],
          ['p50 ms', 'r'],
          ['p90', 'r'],
          ['p99', 'r'],
          ['max', 'r'],
          ['failed', 'r'],
          ['how they failed'],
        ],
        coldRows,
      ),
      '',
      `A vassal woken by its one request (the first row) left, from that response to the emperor's "Vassal … left while idle", after p50 ${fmt(median(cold.lingerMs))} / max ${fmt(Math.max(...cold.lingerMs))} ms (${cold.lingerMs.length} vassals; idle timeout ${ctx.vassalIdle}, judged from the workers' heartbeats).`,
      '',
      `**Wandering load**: ${WANDER_CLIENTS} clients, each a request at a time with random (exponential) pauses between, for ${ctx.loadDuration} s; ${Math.round(HOT_SHARE * 100)}% of the requests go to the hot vassals (any of them alike), the rest to any of the others alike, at a rate that hits each of those about once every ${TAIL_GAP} idle timeouts, so that they keep waking and leaving. Wake-ups and idle exits: the emperor's "Vassal … started" and "Vassal … left while idle" lines during the load; the emperor's CPU time over the load divided by its wake-ups. Latency over the requests served.`,
      '',
      table(
        [
          ['seconds', 'r'],
          ['clients', 'r'],
          ['vassals hot / cold', 'r'],
          ['aimed req/s', 'r'],
          ['requests', 'r'],
          ['req/s', 'r'],
          ['failed', 'r'],
          ['how they failed'],
          ['wake-ups', 'r'],
          ['idle exits', 'r'],
          ['emperor CPU ms / wake-up', 'r'],
          ['p50 ms', 'r'],
          ['p99 ms', 'r'],
          ['max ms', 'r'],
        ],
        [loadRow],
      ),
      '',
      `**A new file in DIR** (${NEW_FILE_SAMPLES} of each kind, written with one write, removed after): from the write to the emperor's line that it started the vassal ("Vassal NAME started") or holds its socket ("Vassal NAME waits for its first connection"), and to the first 200 on the vassal's socket (polled every 5 ms).`,
      '',
      table(
        [['new vassal file'], ['samples', 'r'], ['line logged after p50 / max ms', 'r'], ['first 200 after p50 / max ms', 'r']],
        freshRows,
      ),
    ].join('\n');
  } finally {
    await emperor.stop();
  }
}

module.exports = {
  emperor: {
    title: 'many apps on one host: `unicorn emperor` with on-demand vassals (memory, cold starts, a wandering load, new files)',
    run,
  },
};
