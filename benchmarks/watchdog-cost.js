#!/usr/bin/env node
// What the worker's watchdog thread (src/worker/watchdog.ts) costs: this checkout's build against
// another's (one without the thread), taking turns. Per round and build: 4 workers of
// benchmarks/apps/hello.js; the time from the start to every worker ready; each worker's VmRSS
// and its threads; its CPU over IDLE_MS of idling. Also the cost of one read of the resident memory.
//
//   node benchmarks/watchdog-cost.js OTHER_CHECKOUT [--rounds N]
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync, readdirSync } = require('node:fs');
const path = require('node:path');

const IDLE_MS = 5000;
const HELLO = path.join(__dirname, 'apps', 'hello.js');
const TICK_MS = 1000 / 100; // USER_HZ

function stat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
}
const status = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const children = (pid) => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => { try { return stat(p).ppid === pid; } catch { return false; } });

async function round(root) {
  const started = performance.now();
  const proc = spawn(process.execPath, [path.join(root, 'bin', 'unicorn'), '-b', '127.0.0.1:0', '-w', '4', HELLO], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (c) => (log += c));
  await new Promise((resolve) => {
    const check = setInterval(() => (log.match(/Worker \(pid:\d+\) ready/g) ?? []).length >= 4 && resolve(clearInterval(check)), 5);
  });
  const readyMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const workers = children(proc.pid);
  const before = workers.map((p) => stat(p).cpuMs);
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpu = workers.map((p, i) => (stat(p).cpuMs - before[i]) / IDLE_MS);
  const rss = workers.map((p) => status(p, 'VmRSS') / 1024);
  const threads = status(workers[0], 'Threads');
  proc.kill('SIGTERM');
  await new Promise((resolve) => proc.once('exit', resolve));
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  return { readyMs: Math.round(readyMs), rssMb: Number(mean(rss).toFixed(1)), idleCpuPct: Number((mean(cpu) * 100).toFixed(2)), threads };
}

async function main() {
  const other = path.resolve(process.argv[2]);
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
  const mine = path.join(__dirname, '..');
  const n = 200_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) process.memoryUsage.rss();
  console.log(`process.memoryUsage.rss(): ${(((performance.now() - t) * 1000) / n).toFixed(2)} µs a call (${n} calls)`);
  t = performance.now();
  for (let i = 0; i < n; i++) process.ppid;
  console.log(`process.ppid: ${(((performance.now() - t) * 1000) / n).toFixed(2)} µs a call (${n} calls)`);
  const results = { [mine]: [], [other]: [] };
  for (let i = 0; i < rounds; i++) for (const root of [other, mine]) results[root].push(await round(root));
  for (const [root, list] of Object.entries(results)) {
    console.log(root);
    for (const r of list) console.log(`  ${JSON.stringify(r)}`);
    const med = (k) => list.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
    console.log(`  median: ready ${med('readyMs')} ms, VmRSS ${med('rssMb')} MB a worker, idle CPU ${med('idleCpuPct')}% a worker`);
  }
}
void main();
