// unicorn as the fault pass (benchmarks/faults.js) runs it: serving benchmarks/apps/faults.js on a
// loopback port, in a process group of its own (lib/servers.js stops it and everything it started,
// successor arbiters and orphaned workers too, however the pass ends), its JSON log kept and
// searchable, its control socket in the pass's temporary directory.
'use strict';
const { execFile } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./net-utils.js');
const { startGroup, waitUntilServing, childrenOf, rssOf, sleep } = require('./servers.js');

const APP = path.resolve(__dirname, '..', 'apps', 'faults.js');

/**
 * Start unicorn with `workers` workers (null: as its config file says) of `workerClass` serving `app` (benchmarks/apps/faults.js unless
 * said) and extra `args`; `env` is added to the environment, `fdLimit` lowers the open-file limit
 * (ulimit -n) it starts under, `stdout: true` keeps what the app writes there (`output()`). Resolves
 * once every worker could have booted (`wait: false`: at once), with the handle of lib/servers.js
 * plus `port`, `url`, `socket` (the control socket), `log` (every message so far), `entries` (those
 * messages' records, a line that is not JSON as `{ msg }`), `waitForLog(pattern, ms)`, `exited` and
 * `workers()`.
 */
async function startUnicorn(
  ctx,
  { workers = 2, workerClass = 'async', app = APP, args = [], env = {}, fdLimit, stdout = false, wait = true } = {},
) {
  const port = await freePort();
  const socket = path.join(ctx.dir, `ctl-${port}.sock`);
  const argv = [
    ctx.unicorn,
    ...(workers === null ? [] : ['-w', String(workers)]),
    '-k',
    workerClass,
    '-b',
    `127.0.0.1:${port}`,
    '--log-format',
    'json',
    '--control-socket',
    socket,
    ...args,
    app,
  ];
  // The shell replaces itself with node (exec), so the pid started is the arbiter's.
  const command = fdLimit
    ? ['/bin/sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...argv]]
    : [process.execPath, argv];
  let handle;
  const watch = (s, lines, exited) => {
    handle = { lines, exited };
  };
  const server = startGroup(`unicorn ${workerClass}`, command, { UNICORN_LOG_LEVEL: 'info', ...env }, watch, { stdout });
  const log = [];
  const entries = [];
  const waiters = new Set();
  handle.lines.on('line', (line) => {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = { msg: line }; // a crash's stack, or what a worker wrote before its log was set up
    }
    if (typeof entry?.msg !== 'string') return;
    entries.push(entry);
    log.push(entry.msg);
    for (const waiter of waiters) waiter(entry.msg);
  });
  let output = '';
  server.stdout?.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  Object.assign(server, {
    port,
    url: `http://127.0.0.1:${port}`,
    socket,
    log,
    entries,
    output: () => output,
    exited: handle.exited,
    workers: () => childrenOf(server.pid),
    /** Resolves with the first message from now on that matches `pattern`, or null after `ms`. */
    waitForLog(pattern, ms) {
      return new Promise((resolve) => {
        const done = (msg) => {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(msg);
        };
        const check = (msg) => pattern.test(msg) && done(msg);
        const timer = setTimeout(done, ms, null);
        waiters.add(check);
      });
    },
    /** Resolves once `check()` holds, polled every 10 ms; rejects after `ms`, or when unicorn exits. */
    async until(check, what, ms = 60_000) {
      const deadline = Date.now() + ms;
      while (!check()) {
        server.checkAlive();
        if (Date.now() > deadline) throw new Error(`${server.label}: no ${what} within ${ms / 1000} s:\n${log.slice(-20).join('\n')}`);
        await sleep(10);
      }
    },
  });
  if (wait) await waitUntilServing(port, server, workers);
  return server;
}

/** `unicorn ctl -s SOCKET ...args`; resolves with its exit code and output, never rejects. */
function ctl(ctx, server, ...args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [ctx.unicorn, 'ctl', '-s', server.socket, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? err.signal) : 0, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/** Whether a process with this pid exists (a zombie counts as gone). */
function alive(pid) {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Watch `server`'s workers every `everyMs` until `stop()`: every worker pid seen, those that went
 * away, the longest stretch with no worker that has logged "ready" and is still alive, and the
 * largest resident memory a worker had.
 */
function watchWorkers(server, everyMs = 20) {
  const seen = new Set();
  const ready = new Set();
  let peakRss = 0;
  let zeroSince = null;
  let longestZeroMs = 0;
  const readyPattern = /^Worker \(pid:(\d+)\) ready/;
  let read = 0;
  const timer = setInterval(() => {
    for (; read < server.log.length; read++) {
      const m = readyPattern.exec(server.log[read]);
      if (m) ready.add(Number(m[1]));
    }
    const now = server.workers();
    for (const pid of now) {
      seen.add(pid);
      try {
        const rss = rssOf(pid);
        if (Number.isFinite(rss)) peakRss = Math.max(peakRss, rss);
      } catch {
        // gone meanwhile
      }
    }
    const serving = now.filter((pid) => ready.has(pid) && alive(pid)).length;
    const t = performance.now();
    if (serving > 0) zeroSince = null;
    else zeroSince ??= t;
    if (zeroSince !== null) longestZeroMs = Math.max(longestZeroMs, t - zeroSince);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const current = new Set(server.workers());
      return { seen, gone: [...seen].filter((pid) => !current.has(pid)), peakRss, longestZeroMs };
    },
  };
}

/** Stop `server` and wait a moment for the OS to take its port back. */
async function stopUnicorn(server) {
  if (!server) return;
  try {
    process.kill(server.pid, 'SIGCONT'); // a stopped arbiter cannot act on TERM
  } catch {
    // gone already
  }
  await server.stop();
}

/**
 * What startUnicorn needs outside the fault pass: `unicorn` (a bin/unicorn) and a temporary directory
 * for the control sockets, removed when the script exits.
 */
function scratchContext(unicorn) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { unicorn, dir };
}

module.exports = { startUnicorn, stopUnicorn, scratchContext, ctl, alive, watchWorkers, sleep };
