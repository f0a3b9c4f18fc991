#!/usr/bin/env node
// How often the heap stop (src/worker/heap-watch.ts) misses a heap that fills fast, and the process
// dies of it instead: RUNS processes with --max-old-space-size=128 retain 50,000 small objects
// every 10 ms (test/fixtures/apps/runaway.js's /retain, about 500 MB/s) beside HOGS processes that
// spin, and each either stops (watchHeap calls back) or dies (V8's "heap out of memory"). Another
// checkout (built) as the argument measures that one.
//
//   node benchmarks/heap-stop.js [CHECKOUT] [--runs 40] [--hogs 4]
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const root = args[0] && !args[0].startsWith('--') ? args[0] : path.join(__dirname, '..');
const runs = option('--runs', 40);
const hogs = Array.from({ length: option('--hogs', 4) }, () => spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' }));
const retain = `
  const t0 = performance.now();
  require(${JSON.stringify(path.join(root, 'dist/src/worker/heap-watch.js'))}).watchHeap(({ used }) => {
    console.log((used / 1048576).toFixed(1) + ' ' + (performance.now() - t0).toFixed(0));
    process.exit(0);
  });
  const hoard = [];
  setInterval(() => { for (let i = 0; i < 50000; i++) hoard.push({ i, at: Date.now(), tag: 'n' + i }); }, 10);`;
let stopped = 0;
const at = [];
for (let i = 0; i < runs; i++) {
  const run = spawnSync(process.execPath, ['--max-old-space-size=128', '-e', retain], { encoding: 'utf8', timeout: 60_000 });
  if (run.status === 0) {
    stopped++;
    at.push(Number(run.stdout.split(' ')[0]));
  }
}
for (const hog of hogs) hog.kill();
at.sort((a, b) => a - b);
console.log(
  `node ${process.version}, ${hogs.length} hogs: stopped ${stopped} of ${runs}, died of the heap ${runs - stopped}` +
    (at.length ? `; stopped at ${at[0]}–${at[at.length - 1]} MB of 128 (median ${at[at.length >> 1]})` : ''),
);
