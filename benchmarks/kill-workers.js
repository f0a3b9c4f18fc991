#!/usr/bin/env node
// Workers killed while serving: `kill -9` one live worker, at random, every INTERVAL ms for SECONDS
// under a steady load, as an OOM killer or an operator would. Reports the longest stretch with no
// worker serving (no live worker that had said it was ready, sampled every 5 ms from /proc and the
// log), the requests that failed, and the longest a request took. A request cut short by its own
// worker's kill fails in any version; the rest is what the crash backoff costs.
//
//   node benchmarks/kill-workers.js [--unicorn PATH/bin/unicorn] [--seconds 30] [--interval 2000]
//                                   [--workers 2] [--concurrency 8]
'use strict';
const { readFileSync } = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { scratchContext, sleep, startUnicorn, stopUnicorn } = require('./lib/fault-server.js');

const { values } = parseArgs({
  options: {
    unicorn: { type: 'string', default: path.join(__dirname, '..', 'bin', 'unicorn') },
    seconds: { type: 'string', default: '30' },
    interval: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
  },
});
const seconds = Number(values.seconds);
const interval = Number(values.interval);
const concurrency = Number(values.concurrency);

/** Live (not zombie) children of `pid`. */
function children(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return text
    .split(' ')
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      } catch {
        return false;
      }
    });
}

async function main() {
  // lib/fault-server.js starts it in a process group of its own, stopped whole however this ends.
  const server = await startUnicorn(scratchContext(path.resolve(values.unicorn)), {
    workers: Number(values.workers),
    app: path.join(__dirname, 'apps', 'hello.js'),
    wait: false,
  });
  const ready = new Set();
  const backoffLines = [];
  const url = server.url;
  let read = 0;
  const readLog = () => {
    for (; read < server.entries.length; read++) {
      const entry = server.entries[read];
      if (/^Worker \(pid:\d+\) ready$/.test(entry.msg)) ready.add(entry.workerPid);
      if (typeof entry.delayMs === 'number') backoffLines.push(entry.msg);
    }
  };
  await server.until(() => {
    readLog();
    return ready.size >= Number(values.workers);
  }, 'workers ready');

  const counts = { ok: 0, failed: 0, slowestMs: 0 };
  let stopping = false;
  const agent = new http.Agent({ keepAlive: false });
  const once = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const done = (ok) => {
        counts[ok ? 'ok' : 'failed']++;
        counts.slowestMs = Math.max(counts.slowestMs, performance.now() - started);
        resolve();
      };
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
        res.on('error', () => done(false));
      });
      req.setTimeout(30_000, () => req.destroy());
      req.on('error', () => done(false));
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopping) await once();
  });

  // Sample the serving workers every 5 ms.
  let longestZeroMs = 0;
  let zeroSince;
  const sampler = setInterval(() => {
    readLog();
    const serving = children(server.pid).filter((pid) => ready.has(pid)).length;
    const now = performance.now();
    if (serving === 0) zeroSince ??= now;
    else if (zeroSince !== undefined) {
      longestZeroMs = Math.max(longestZeroMs, now - zeroSince);
      zeroSince = undefined;
    }
  }, 5);

  let kills = 0;
  let nothingToKill = 0;
  for (let tick = 0; tick < Math.floor((seconds * 1000) / interval); tick++) {
    await sleep(interval);
    const live = children(server.pid);
    if (live.length === 0) {
      nothingToKill++;
      continue;
    }
    process.kill(live[Math.floor(Math.random() * live.length)], 'SIGKILL');
    kills++;
  }
  stopping = true;
  await Promise.all(loops);
  clearInterval(sampler);
  if (zeroSince !== undefined) longestZeroMs = Math.max(longestZeroMs, performance.now() - zeroSince);
  readLog();
  await stopUnicorn(server);
  const result = {
    unicorn: values.unicorn,
    seconds,
    intervalMs: interval,
    kills,
    /** Moments it was due to kill one and no worker process was alive. */
    nothingToKill,
    longestZeroWorkersMs: Math.round(longestZeroMs),
    requestsOk: counts.ok,
    requestsFailed: counts.failed,
    slowestRequestMs: Math.round(counts.slowestMs),
    backoffLines: backoffLines.length,
    longestBackoffLine: backoffLines.sort((a, b) => b.length - a.length)[0],
    lastBackoffLine: backoffLines.at(-1),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`kill-workers: ${err.stack}\n`);
  process.exit(1);
});
