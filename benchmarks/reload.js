#!/usr/bin/env node
// Reload under load: unicorn's SIGHUP against PM2's `pm2 reload`, serving the same handler with the
// same worker count under the same load, counting the requests each loses while its workers are
// replaced.
//
//   npm run bench -- reload [--duration 10 --reloads 5 --connections 50 --workers 2]
//   node benchmarks/reload.js [the same] [--contender pm2 ...] [--load close ...] [--out benchmarks/RESULTS.md]
//
// unicorn: the arbiter gets SIGHUP, and a reload is over when it logs "Reload complete" (or "Reload
// failed"). PM2: cluster mode (`pm2 start -i W`) and `pm2 reload`, which returns once the reload is
// over, run with a private PM2_HOME in a temporary directory and ended with `pm2 kill`. PM2 is
// installed into benchmarks/node_modules on first use; it is no dependency of unicorn.
//
// The load is benchmarks/load.js in a second process: C connections in closed loops, kept alive or
// closed after every request. After a second of warm-up, it is counted for --duration seconds (or up
// to a second after the last reload ended, if that is later), over which the reloads are spread
// evenly, one at a time, each waited for. `--reloads 0` measures the same load without reloads.
// Everything runs on loopback; every process started here is gone when the script ends, however it ends.
'use strict';
const { fork, spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { parseArgs } = require('node:util');
const { freePort, get } = require('./net-utils.js');
const { readIfExists, replaceSection } = require('./results-file.js');

const ROOT = path.resolve(__dirname, '..');
const HELLO = path.join(__dirname, 'apps', 'hello.js');
const HELLO_LISTEN = path.join(__dirname, 'apps', 'hello-listen.js');
const LOAD = path.join(__dirname, 'load.js');
const PM2 = path.join(__dirname, 'node_modules', '.bin', 'pm2');
const HEADING = '## Reload under load';
const WARM_UP_MS = 1000;
const TAIL_MS = 1000;
const RELOAD_TIMEOUT_MS = 60_000;

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    reloads: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
    contender: { type: 'string', multiple: true },
    load: { type: 'string', multiple: true },
    // Another checkout's bin/unicorn, to measure a version other than the one this script lives in.
    unicorn: { type: 'string', default: path.join(ROOT, 'bin', 'unicorn') },
    out: { type: 'string' },
  },
});
const DURATION_MS = Number(opts.duration) * 1000;
const RELOADS = Number(opts.reloads);
const CONNECTIONS = Number(opts.connections);
const WORKERS = Number(opts.workers);
const UNICORN = path.resolve(opts.unicorn);

const LOADS = {
  'keep-alive': [],
  close: ['--close'],
};
// unicorn's sync class answers every request with Connection: close, so under a keep-alive load it
// would meet the same connections as under the close load: it runs the close load only.
const CONTENDERS = [
  { id: 'unicorn-async', name: 'unicorn', mode: '-k async', loads: ['keep-alive', 'close'], start: (port) => startUnicorn('async', port) },
  { id: 'unicorn-sync', name: 'unicorn', mode: '-k sync', loads: ['close'], start: (port) => startUnicorn('sync', port) },
  { id: 'pm2', name: 'PM2', mode: 'cluster, app without SIGINT handler', loads: ['keep-alive', 'close'], start: (port) => startPm2(port, false) },
  { id: 'pm2-graceful', name: 'PM2', mode: 'cluster, app drains on SIGINT', loads: ['keep-alive', 'close'], start: (port) => startPm2(port, true) },
];

/** What must not outlive this script, however it ends: unicorn process groups and PM2 daemons (by home). */
const unicornGroups = new Set();
const pm2Homes = new Set();
process.on('exit', () => {
  for (const pgid of unicornGroups) killGroup(pgid);
  for (const home of pm2Homes) killPm2Sync(home);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/** Wait until every worker could have booted: the port answers several times in a row. */
async function waitUntilServing(port, server) {
  const deadline = Date.now() + 15_000;
  let ok = 0;
  while (ok < 2 * WORKERS) {
    server.checkAlive();
    if (Date.now() > deadline) throw new Error(`${server.label} did not answer on 127.0.0.1:${port} within 15 s`);
    ok = (await get(port)) ? ok + 1 : 0;
    if (ok === 0) await sleep(50);
  }
}

/** Run a command to its end; rejects with its output when it exits other than 0. */
function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(args[0] ?? cmd)} ${args.slice(1).join(' ')} exited with ${code ?? signal}:\n${output}`));
    });
  });
}

// unicorn ------------------------------------------------------------------------------------------

function startUnicorn(workerClass, port) {
  if (!existsSync(UNICORN)) throw new Error(`no unicorn at ${UNICORN}`);
  const args = [UNICORN, '-w', String(WORKERS), '-k', workerClass, '-b', `127.0.0.1:${port}`, HELLO];
  // Its own process group, so that its workers can be killed with it whatever state it is left in.
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, UNICORN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  unicornGroups.add(child.pid);
  const label = `unicorn -k ${workerClass}`;
  const lastLines = [];
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let awaitingReload = null;
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    lastLines.push(line);
    if (lastLines.length > 30) lastLines.shift();
    let msg;
    try {
      msg = JSON.parse(line).msg;
    } catch {
      return;
    }
    if (typeof msg !== 'string') return;
    if (msg.startsWith('Reload complete')) awaitingReload?.('complete');
    else if (msg.startsWith('Reload failed') || msg.startsWith('Reload refused')) awaitingReload?.('failed');
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const tail = () => lastLines.join('\n');
  return {
    label,
    checkAlive() {
      if (gone()) throw new Error(`${label} exited with ${child.exitCode ?? child.signalCode}:\n${tail()}`);
    },
    /** SIGHUP, then the arbiter's word that the reload is over: 'complete' or 'failed'. */
    async reload() {
      let timer;
      const outcome = new Promise((resolve) => (awaitingReload = resolve));
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, RELOAD_TIMEOUT_MS, 'timeout')));
      process.kill(child.pid, 'SIGHUP');
      const result = await Promise.race([outcome, timeout, exited.then((how) => ({ how }))]);
      clearTimeout(timer);
      awaitingReload = null;
      if (result === 'timeout') throw new Error(`${label}: no "Reload complete" in the log ${RELOAD_TIMEOUT_MS / 1000} s after SIGHUP:\n${tail()}`);
      if (result.how) throw new Error(`${label}: the arbiter ended (${result.how}) on SIGHUP; does this unicorn reload on HUP?\n${tail()}`);
      return result;
    },
    /** SIGTERM to the arbiter, then SIGKILL to its process group, whatever is left of it. */
    async stop() {
      if (!gone()) {
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
      }
      killGroup(child.pid);
      unicornGroups.delete(child.pid);
    },
  };
}

// PM2 ----------------------------------------------------------------------------------------------

function ensurePm2() {
  if (existsSync(PM2)) return;
  process.stderr.write('reload: installing PM2 into benchmarks/node_modules (npm ci --prefix benchmarks)\n');
  const result = spawnSync('npm', ['ci', '--prefix', __dirname, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0 || !existsSync(PM2)) throw new Error(`npm ci --prefix ${__dirname} failed; PM2 is needed for this benchmark`);
}

/** The environment every pm2 command of one daemon runs with. */
function pm2Env(home, extra = {}) {
  // PM2_DISABLE_VERSION_CHECK and the `touch` file written at start keep the daemon off the network.
  return { ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', ...extra };
}

function killPm2Sync(home) {
  spawnSync(process.execPath, [PM2, 'kill'], { env: pm2Env(home), stdio: 'ignore', timeout: 30_000 });
  rmSync(home, { recursive: true, force: true });
}

async function startPm2(port, graceful) {
  ensurePm2();
  const home = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-pm2-'));
  pm2Homes.add(home);
  // Without it, a first command in a new PM2_HOME prints a banner and asks the network for a newer PM2.
  writeFileSync(path.join(home, 'touch'), String(Date.now()));
  const env = pm2Env(home, { PORT: String(port), GRACEFUL_SIGINT: graceful ? '1' : '0' });
  const pm2 = (...args) => run(process.execPath, [PM2, ...args], env);
  const label = `PM2 ${graceful ? '(app drains on SIGINT)' : '(app without SIGINT handler)'}`;
  const stop = async () => {
    await pm2('kill').catch((err) => process.stderr.write(`reload: ${err.message}\n`));
    rmSync(home, { recursive: true, force: true });
    pm2Homes.delete(home);
  };
  try {
    await pm2('start', HELLO_LISTEN, '--name', 'hello', '-i', String(WORKERS));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    label,
    checkAlive() {},
    /** `pm2 reload` returns when every worker has been replaced; it exits other than 0 when that failed. */
    async reload() {
      try {
        await pm2('reload', 'hello');
        return 'complete';
      } catch (err) {
        process.stderr.write(`reload: ${err.message}\n`);
        return 'failed';
      }
    },
    stop,
  };
}

// The measurement ----------------------------------------------------------------------------------

function startLoad(port, load) {
  const generator = fork(LOAD, ['--port', String(port), '--connections', String(CONNECTIONS), ...LOADS[load]], { stdio: 'inherit' });
  const result = new Promise((resolve, reject) => {
    generator.once('message', resolve);
    generator.once('exit', (code, signal) => reject(new Error(`the load generator exited with ${code ?? signal} before its result`)));
  });
  result.catch(() => {}); // read, or the run failed for another reason first
  return {
    start: () => generator.send('start'),
    stop: () => {
      generator.send('stop');
      return result;
    },
    kill: () => generator.kill('SIGKILL'),
  };
}

async function measure(contender, load) {
  const port = await freePort();
  const server = await contender.start(port);
  try {
    await waitUntilServing(port, server);
    const generator = startLoad(port, load);
    try {
      await sleep(WARM_UP_MS);
      generator.start();
      const t0 = performance.now();
      const reloads = [];
      for (let i = 0; i < RELOADS; i++) {
        await sleep(t0 + ((i + 0.5) * DURATION_MS) / RELOADS - performance.now());
        const sent = performance.now() - t0;
        const outcome = await server.reload();
        reloads.push({ sent, done: performance.now() - t0, outcome });
      }
      const lastDone = reloads.at(-1)?.done ?? 0;
      await sleep(Math.max(DURATION_MS, lastDone + TAIL_MS) - (performance.now() - t0));
      server.checkAlive();
      return { reloads, ...(await generator.stop()) };
    } finally {
      generator.kill();
    }
  } finally {
    await server.stop();
  }
}

/** Which reload each failed request was sent during (or just after), to tell on stderr whether reloads caused them. */
function failuresByReload(result) {
  const counts = result.reloads.map(() => 0);
  let outside = 0;
  for (const t of result.failureTimes) {
    const i = result.reloads.findIndex((r) => t >= r.sent && t <= r.done + TAIL_MS);
    if (i === -1) outside++;
    else counts[i]++;
  }
  return `failures during/just after each reload: [${counts.join(', ')}], at other times: ${outside}`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sum = (xs) => xs.reduce((n, x) => n + x, 0);

/** The commit a checkout is at, for the record of which unicorn was measured. */
function describeCheckout(dir) {
  const git = (...args) => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
  const commit = git('log', '-1', '--format=%h').stdout.trim();
  if (!commit) return `from ${dir}`;
  return git('status', '--porcelain', '--untracked-files=no').stdout.trim() ? `at ${commit} with uncommitted changes` : `at ${commit}`;
}

function row(contender, load, result) {
  const completed = result.reloads.filter((r) => r.outcome === 'complete').length;
  const reloads = completed === result.reloads.length ? String(completed) : `${completed} (${result.reloads.length - completed} failed)`;
  const reloadSeconds = result.reloads.length ? (median(result.reloads.map((r) => r.done - r.sent)) / 1000).toFixed(2) : '—';
  const failed = sum(Object.values(result.failures));
  const kinds = Object.entries(result.failures)
    .sort(([, a], [, b]) => b - a)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const reused = result.onReusedSocket ? `; ${result.onReusedSocket} on a reused keep-alive socket` : '';
  const rps = result.ok / (result.elapsedMs / 1000);
  return `| ${contender.name} | ${contender.mode} | ${load} | ${reloads} | ${reloadSeconds} | ${result.ok} | ${rps.toFixed(0)} | ${failed} | ${result.failures.refused ?? 0} | ${kinds ? kinds + reused : '—'} |`;
}

async function main() {
  if (!Number.isInteger(RELOADS) || RELOADS < 0) throw new Error(`--reloads "${opts.reloads}" is not accepted: expected a whole number`);
  if (!(DURATION_MS > 0)) throw new Error(`--duration "${opts.duration}" is not accepted: expected a number of seconds`);
  const ids = CONTENDERS.map((c) => c.id);
  for (const id of opts.contender ?? []) if (!ids.includes(id)) throw new Error(`--contender "${id}" is not accepted: expected one of ${ids.join(', ')}`);
  for (const load of opts.load ?? []) if (!(load in LOADS)) throw new Error(`--load "${load}" is not accepted: expected one of ${Object.keys(LOADS).join(', ')}`);
  const contenders = CONTENDERS.filter((c) => !opts.contender || opts.contender.includes(c.id));
  const loads = opts.load ?? Object.keys(LOADS);

  const rows = [];
  for (const load of loads) {
    for (const contender of contenders.filter((c) => c.loads.includes(load))) {
      const result = await measure(contender, load);
      rows.push(row(contender, load, result));
      const reloadTimes = result.reloads.map((r) => `${(r.sent / 1000).toFixed(1)}–${(r.done / 1000).toFixed(1)} s ${r.outcome}`);
      process.stderr.write(`${load}: ${contender.name} ${contender.mode}: ${result.ok} ok, failures ${JSON.stringify(result.failures)}; reloads ${reloadTimes.join(', ')}; ${failuresByReload(result)}\n`);
      if (result.beforeWindow) process.stderr.write(`  and ${result.beforeWindow} failures during the warm-up, before any reload (not in the table)\n`);
    }
  }

  const unicorn = contenders.some((c) => c.name === 'unicorn') ? ` unicorn ${describeCheckout(path.dirname(path.dirname(UNICORN)))}.` : '';
  const command = `npm run bench -- reload --duration ${opts.duration} --reloads ${RELOADS} --connections ${CONNECTIONS} --workers ${WORKERS}`;
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
  const section = [
    HEADING,
    '',
    `Command: \`${command}\``,
    `Machine: ${machine}. ${WORKERS} workers each, serving benchmarks/apps/hello.js (for PM2, benchmarks/apps/hello-listen.js: the same handler, listening itself). ` +
      `Load: benchmarks/load.js, ${CONNECTIONS} connections in closed loops; keep-alive, or \`Connection: close\` on every request. ` +
      `${RELOADS} reloads spread over ${opts.duration} s, one at a time, each waited for (unicorn: SIGHUP until the arbiter logs "Reload complete"; PM2: \`pm2 reload\`). ` +
      `Counted over ${opts.duration} s (or to ${TAIL_MS / 1000} s after the last reload ended, if later) after a second of warm-up.${unicorn}`,
    '',
    '| contender | mode | load | reloads | reload s, median | requests | req/s | failed | refused | how they failed |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
    'A request succeeded when its whole 2xx response arrived (a server that answers `Connection: close` and then closes has done nothing wrong). ' +
      'It failed when the connection was refused, reset or closed before the whole response, a write failed, no response came within 10 s, or the status was not 2xx. ' +
      'A loop pauses 10 ms after a failure, so a refused port costs about as many requests as the clients would have sent. ' +
      'req/s counts the successful requests. ' +
      'reload s: for unicorn, until "Reload complete" (every new worker ready; the old ones then finish their requests and exit); ' +
      'for PM2, until `pm2 reload` returns (each old worker exited after its replacement listened; PM2 replaces two at a time). ' +
      '"On a reused keep-alive socket": sent on a connection that had already served a request; a browser resends an idempotent request that fails so before any response arrives, Node\'s http client does not.',
    '',
  ].join('\n');
  process.stdout.write(`\n${section}`);
  if (opts.out) writeFileSync(opts.out, replaceSection(readIfExists(opts.out), HEADING, section));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
