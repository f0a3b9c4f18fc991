#!/usr/bin/env node
// What watching the workers costs, this checkout's build against another's, taking turns: the
// arbiter reading each worker's resident memory for --max-worker-memory (src/arbiter/memory-watch.ts)
// and the reaper (src/arbiter/reaper.ts), or the other build's own mechanism. Per round and build:
// 4 workers of benchmarks/apps/hello.js with --max-worker-memory 1GB (never reached); the time from
// the start to every worker ready; each worker's VmRSS and threads; the workers' and the arbiter's
// CPU over IDLE_MS of idling; the reaper's VmRSS where there is one. Also the cost of one read of a
// process's resident memory, each way the arbiter could read it.
//
//   node benchmarks/supervision-cost.js OTHER_CHECKOUT [--rounds N]
'use strict';
const { closeSync, openSync, readFileSync, readSync, readdirSync } = require('node:fs');
const path = require('node:path');
const { scratchContext, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

const IDLE_MS = 5000;
const HELLO = path.join(__dirname, 'apps', 'hello.js');
const TICK_MS = 1000 / 100; // USER_HZ

function stat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
}
const status = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const children = (pid) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => {
      try {
        return stat(p).ppid === pid;
      } catch {
        return false;
      }
    });
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;

async function round(ctx) {
  // lib/fault-server.js starts it in a process group of its own, stopped whole however this ends.
  const proc = await startUnicorn(ctx, {
    workers: 4,
    workerClass: 'sync',
    app: HELLO,
    args: ['--max-worker-memory', '1GB', '--log-level', 'debug'],
    wait: false,
  });
  try {
    return await measure(proc);
  } finally {
    await stopUnicorn(proc);
  }
}

async function measure(proc) {
  const { started } = proc;
  await proc.until(() => proc.log.filter((msg) => /^Worker \(pid:\d+\) ready/.test(msg)).length >= 4, 'the workers ready');
  const readyMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const workers = children(proc.pid);
  const before = workers.map((p) => stat(p).cpuMs);
  const arbiterBefore = stat(proc.pid).cpuMs;
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpu = workers.map((p, i) => (stat(p).cpuMs - before[i]) / IDLE_MS);
  const arbiterCpu = (stat(proc.pid).cpuMs - arbiterBefore) / IDLE_MS;
  const rss = workers.map((p) => status(p, 'VmRSS') / 1024);
  const threads = status(workers[0], 'Threads');
  const reaper = proc.entries.find((l) => l.reaperPid !== undefined)?.reaperPid;
  const reaperRssMb = reaper ? Number((status(reaper, 'VmRSS') / 1024).toFixed(2)) : null;
  return {
    readyMs: Math.round(readyMs),
    rssMb: Number(mean(rss).toFixed(1)),
    idleCpuPct: Number((mean(cpu) * 100).toFixed(2)),
    arbiterIdleCpuPct: Number((arbiterCpu * 100).toFixed(2)),
    threads,
    reaperRssMb,
  };
}

/** µs per call of `read`, over `n` calls after a warm-up. */
function perCall(read, n = 50_000) {
  for (let i = 0; i < 1000; i++) read();
  const t = performance.now();
  for (let i = 0; i < n; i++) read();
  return (((performance.now() - t) * 1000) / n).toFixed(2);
}

function readCosts() {
  const pid = process.pid;
  const buffer = Buffer.alloc(256);
  const statm = () => {
    const fd = openSync(`/proc/${pid}/statm`, 'r');
    try {
      return Number(buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0)).split(' ', 2)[1]) * 4096;
    } finally {
      closeSync(fd);
    }
  };
  const statmFile = () => Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ', 2)[1]) * 4096;
  const vmRss = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))[1]) * 1024;
  console.log(`/proc/PID/statm, open + read + close: ${perCall(statm)} µs a read (what the arbiter does)`);
  console.log(`/proc/PID/statm, readFileSync: ${perCall(statmFile)} µs a read`);
  console.log(`/proc/PID/status VmRSS, readFileSync + match: ${perCall(vmRss)} µs a read`);
  console.log(`process.memoryUsage.rss() (its own, for comparison): ${perCall(() => process.memoryUsage.rss())} µs a read`);
}

async function main() {
  const other = path.resolve(process.argv[2]);
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
  const mine = path.join(__dirname, '..');
  readCosts();
  const results = { [mine]: [], [other]: [] };
  const contexts = {
    [mine]: scratchContext(path.join(mine, 'bin', 'unicorn')),
    [other]: scratchContext(path.join(other, 'bin', 'unicorn')),
  };
  for (let i = 0; i < rounds; i++) for (const root of [other, mine]) results[root].push(await round(contexts[root]));
  for (const [root, list] of Object.entries(results)) {
    console.log(root);
    for (const r of list) console.log(`  ${JSON.stringify(r)}`);
    const med = (k) => list.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
    console.log(
      `  median: ready ${med('readyMs')} ms, VmRSS ${med('rssMb')} MB a worker, idle CPU ${med('idleCpuPct')}% a worker, ` +
        `arbiter idle CPU ${med('arbiterIdleCpuPct')}%, reaper VmRSS ${med('reaperRssMb') ?? '-'} MB`,
    );
  }
}
main().catch((err) => {
  process.stderr.write(`supervision-cost: ${err.stack}\n`);
  process.exitCode = 1;
});
