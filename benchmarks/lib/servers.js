// The contenders: how each is started on a port with a benchmark app and a worker count, reloaded,
// looked at (its processes) and stopped. Every process started here is gone when the benchmark
// ends, however it ends: unicorn, node:cluster, node:http and nginx run in process groups of their
// own, killed whole; each PM2 daemon has a private PM2_HOME and is ended with `pm2 kill`.
'use strict';
const { execFile, spawn, spawnSync } = require('node:child_process');
const { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { setTimeout: delay } = require('node:timers/promises');
const { request } = require('./net-utils.js');

const BENCH = path.resolve(__dirname, '..');
const ROOT = path.resolve(BENCH, '..');
const APPS = path.join(BENCH, 'apps');
const LISTEN = path.join(APPS, 'listen.js');
const NODE_CLUSTER = path.join(BENCH, 'peers', 'node-cluster.js');
const PM2 = path.join(BENCH, 'node_modules', '.bin', 'pm2');
const RELOAD_TIMEOUT_MS = 60_000;

/** A static-file peer that is an app under unicorn, with the worker class and count of unicorn's own
 *  --static beside it, so that only the static path differs. */
const staticApp = (framework, app, workerClass) => ({
  name: `${framework}, unicorn ${workerClass}`,
  kind: 'unicorn',
  workerClass,
  app,
  staticPeer: true,
  // Its framework comes from benchmarks/package.json.
  peers: true,
});

/**
 * Every contender the suite knows, by id. `kind` says how it is started; a unicorn contender may
 * add flags (`args`, given the run's own temporary directory) and a name suffix, and serve an app of
 * its own (`app`) in place of the scenario's. The static-file peers (`staticPeer`) serve the files
 * of STATIC_DIR under /static/ and nothing else: only the static-file scenarios run them.
 */
const CONTENDERS = Object.fromEntries(
  Object.entries({
    'unicorn-sync': { name: 'unicorn sync', kind: 'unicorn', workerClass: 'sync' },
    'unicorn-async': { name: 'unicorn async', kind: 'unicorn', workerClass: 'async' },
    'cluster-rr': { name: 'node:cluster round-robin', kind: 'cluster', policy: 'rr' },
    'cluster-shared': { name: 'node:cluster shared-handle', kind: 'cluster', policy: 'none' },
    // Run only when named: the floor of what unicorn's start can be, as its primary and workers
    // load the command-line parser and the logger the project requires, and nothing else of it.
    'cluster-libraries': {
      name: 'node:cluster shared-handle + commander and pino',
      kind: 'cluster',
      policy: 'none',
      libraries: true,
      optIn: true,
    },
    pm2: { name: 'PM2 cluster', kind: 'pm2', graceful: false },
    'node-http': { name: 'node:http, one process', kind: 'single' },
    'express-static-sync': staticApp('express.static', 'express-static.js', 'sync'),
    'express-static-async': staticApp('express.static', 'express-static.js', 'async'),
    'fastify-static-sync': staticApp('@fastify/static', 'fastify-static.js', 'sync'),
    'fastify-static-async': staticApp('@fastify/static', 'fastify-static.js', 'async'),
    nginx: { name: 'nginx', kind: 'nginx', staticPeer: true },
  }).map(([id, contender]) => [id, { id, ...contender }]),
);

/** The contenders that serve the benchmark apps: all but the static-file peers. */
const APP_SERVERS = Object.values(CONTENDERS).filter((contender) => !contender.staticPeer);

/** A unicorn contender with more flags: `{ name: ', suffix', args: (dir) => [...] }`, and optionally its own `app`. */
const unicornWith = (id, extra) => ({ ...CONTENDERS[id], ...extra, name: CONTENDERS[id].name + extra.name });

/** What must not outlive the benchmark: process groups (by leader pid) and PM2 daemons (by home). */
const groups = new Set();
const pm2Homes = new Set();
process.on('exit', () => {
  for (const pgid of groups) killGroup(pgid);
  for (const home of pm2Homes) killPm2Sync(home);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/**
 * Start `contender` serving `app` (a file of benchmarks/apps; none for unicorn serving only --static
 * or --mount) on 127.0.0.1:`port` with `workers` workers, `env` added to its environment. Resolves
 * with a handle: `label`, `pid` (the process that supervises: unicorn's arbiter, the cluster primary,
 * the PM2 daemon, the one node:http process, or nginx's master), `started` (performance.now() when
 * the launch began), `checkAlive()`, `reload()`, `stop()`.
 */
async function start(contender, { port, app, workers, dir, env: extraEnv = {}, unicorn = path.join(ROOT, 'bin', 'unicorn') }) {
  app = contender.app ?? app;
  const appFile = app && path.join(APPS, app);
  const env = { PORT: String(port), WORKERS: String(workers), APP: app, ...extraEnv };
  switch (contender.kind) {
    case 'unicorn': {
      if (contender.peers) ensurePeers();
      // A control socket of the run's own, for the requests each worker has served (ctl stats).
      const controlDir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-ctl-'));
      const socket = path.join(controlDir, 'ctl.sock');
      const args = [
        unicorn,
        '-w',
        String(workers),
        '-k',
        contender.workerClass,
        '-b',
        `127.0.0.1:${port}`,
        '--control-socket',
        socket,
        ...(contender.args?.(dir) ?? []),
        ...(appFile ? [appFile] : []),
      ];
      const server = startGroup(contender.name, [process.execPath, args], { ...extraEnv, UNICORN_LOG_LEVEL: 'info' }, watchUnicornLog);
      server.requestsByWorker = () => requestsByWorker(unicorn, socket);
      const stop = server.stop;
      server.stop = async () => {
        await stop();
        rmSync(controlDir, { recursive: true, force: true });
      };
      return server;
    }
    case 'cluster':
      return startGroup(contender.name, [process.execPath, [NODE_CLUSTER]], {
        ...env,
        CLUSTER_POLICY: contender.policy,
        ...(contender.libraries ? { LIBRARIES: '1' } : {}),
      });
    case 'single':
      return startGroup(contender.name, [process.execPath, [LISTEN]], env);
    case 'pm2':
      return startPm2(contender, env, workers);
    case 'nginx':
      return startNginx(contender, { port, workers, staticDir: env.STATIC_DIR });
    default:
      throw new Error(`unknown contender kind ${contender.kind}`);
  }
}

/**
 * A server in a process group of its own, its stderr kept (the last lines) for when it fails.
 * `stdout: true` pipes its standard output too (`server.stdout`), for an app that reports there.
 */
function startGroup(label, [cmd, args], env, watch, { stdout = false } = {}) {
  const started = performance.now();
  const stdio = ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'];
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, env: { ...process.env, ...env }, stdio });
  groups.add(child.pid);
  const lastLines = [];
  const lines = readline.createInterface({ input: child.stderr });
  lines.on('line', (line) => {
    lastLines.push(line);
    if (lastLines.length > 30) lastLines.shift();
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const tail = () => lastLines.join('\n');
  const server = {
    label,
    pid: child.pid,
    started,
    stdout: child.stdout,
    /** Its stderr, line by line (readline), for a scenario that follows its log (lib/unicorn-log.js). */
    lines,
    checkAlive() {
      if (gone()) throw new Error(`${label} exited with ${child.exitCode ?? child.signalCode}:\n${tail()}`);
    },
    async reload() {
      throw new Error(`${label} has no reload of its own`);
    },
    /** SIGTERM to the leader, then SIGKILL to its group, whatever is left of it. */
    async stop() {
      if (!gone()) {
        process.kill(child.pid, 'SIGTERM');
        // Not ref'd: once the server is gone, the rest of the 10 s must not keep the benchmark from exiting.
        await Promise.race([exited, delay(10_000, undefined, { ref: false })]);
      }
      killGroup(child.pid);
      groups.delete(child.pid);
    },
  };
  watch?.(server, lines, exited, tail);
  return server;
}

/** unicorn reloads on SIGHUP; the reload is over when the arbiter logs "Reload complete" (or failed). */
function watchUnicornLog(server, lines, exited, tail) {
  let awaiting = null;
  lines.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line).msg;
    } catch {
      return;
    }
    if (typeof msg !== 'string') return;
    if (msg.startsWith('Reload complete')) awaiting?.('complete');
    else if (msg.startsWith('Reload failed') || msg.startsWith('Reload refused')) awaiting?.('failed');
  });
  server.reload = async () => {
    let timer;
    const outcome = new Promise((resolve) => (awaiting = resolve));
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, RELOAD_TIMEOUT_MS, 'timeout')));
    process.kill(server.pid, 'SIGHUP');
    const result = await Promise.race([outcome, timeout, exited.then((how) => ({ how }))]);
    clearTimeout(timer);
    awaiting = null;
    if (result === 'timeout')
      throw new Error(`${server.label}: no "Reload complete" in the log ${RELOAD_TIMEOUT_MS / 1000} s after SIGHUP:\n${tail()}`);
    if (result.how) throw new Error(`${server.label}: the arbiter ended (${result.how}) on SIGHUP:\n${tail()}`);
    return result;
  };
}

/** What each live worker of a unicorn has served, by worker id, from `unicorn ctl stats --json`. */
function requestsByWorker(unicorn, socket) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [unicorn, 'ctl', '--socket', socket, 'stats', '--json'], { timeout: 15_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(new Map(JSON.parse(stdout).workers.map((w) => [w.id, w.requests])));
    });
  });
}

// PM2 ----------------------------------------------------------------------------------------------

/** The peers of benchmarks/package.json (PM2, express, fastify, @fastify/static), installed on first use. */
function ensurePeers() {
  const { dependencies } = JSON.parse(readFileSync(path.join(BENCH, 'package.json'), 'utf8'));
  const missing = () => Object.keys(dependencies).filter((name) => !existsSync(path.join(BENCH, 'node_modules', name, 'package.json')));
  if (missing().length === 0) return;
  process.stderr.write(`bench: installing ${missing().join(', ')} into benchmarks/node_modules (npm ci --prefix benchmarks)\n`);
  const result = spawnSync('npm', ['ci', '--prefix', BENCH, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0 || missing().length > 0)
    throw new Error(`npm ci --prefix ${BENCH} failed; the peers are needed for their contenders`);
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

/** PM2's cluster mode (`pm2 start -i W`), apps/listen.js in each worker; `pm2 reload` reloads. */
async function startPm2(contender, env, workers) {
  ensurePeers();
  const started = performance.now();
  const home = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-pm2-'));
  pm2Homes.add(home);
  // Without it, a first command in a new PM2_HOME prints a banner and asks the network for a newer PM2.
  writeFileSync(path.join(home, 'touch'), String(Date.now()));
  const pm2 = (...args) => run(process.execPath, [PM2, ...args], pm2Env(home, { ...env, GRACEFUL_SIGINT: contender.graceful ? '1' : '0' }));
  const stop = async () => {
    await pm2('kill').catch((err) => process.stderr.write(`bench: ${err.message}\n`));
    rmSync(home, { recursive: true, force: true });
    pm2Homes.delete(home);
  };
  try {
    await pm2('start', LISTEN, '--name', 'app', '-i', String(workers));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    label: contender.name,
    pid: Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8')),
    started,
    checkAlive() {},
    /** `pm2 reload` returns when every worker has been replaced; it exits other than 0 when that failed. */
    async reload() {
      try {
        await pm2('reload', 'app');
        return 'complete';
      } catch (err) {
        process.stderr.write(`bench: ${err.message}\n`);
        return 'failed';
      }
    },
    stop,
  };
}

// nginx ---------------------------------------------------------------------------------------------

/** Where Debian and source builds put nginx: /usr/sbin is not on every PATH. */
const NGINX_PLACES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary (Debian's package: apt-get install nginx), or undefined when none is installed. */
function findNginx() {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...onPath.map((dir) => path.join(dir, 'nginx')), ...NGINX_PLACES].find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * nginx serving the files of `staticDir` under /static/, `workers` worker processes, in the
 * foreground with its configuration, pid file, temporary files and error log in a directory of its
 * own. Its settings are Debian's nginx.conf's where they bear on serving a file (sendfile,
 * tcp_nopush), with no access log, as unicorn has none by default.
 */
function startNginx(contender, { port, workers, staticDir }) {
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed (apt-get install nginx)');
  if (!staticDir) throw new Error('nginx serves only static files here: STATIC_DIR is not set');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  writeFileSync(
    conf,
    [
      `worker_processes ${workers};`,
      // As root, the workers would run as nobody, who cannot read the run's 0700 temporary directories.
      process.getuid?.() === 0 ? 'user root;' : '',
      `pid ${dir}/nginx.pid;`,
      `error_log ${errorLog} notice;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  types { text/plain txt; }',
      '  default_type application/octet-stream;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind}_temp;`),
      `  server { listen 127.0.0.1:${port}; location /static/ { alias ${staticDir}/; } }`,
      '}',
      '',
    ].join('\n'),
  );
  const server = startGroup(contender.name, [nginx, ['-p', `${dir}/`, '-c', conf, '-e', errorLog, '-g', 'daemon off;']], {});
  const { checkAlive, stop } = server;
  server.checkAlive = () => {
    try {
      checkAlive();
    } catch (err) {
      err.message += `\n${readFileSync(errorLog, 'utf8')}`;
      throw err;
    }
  };
  server.stop = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return server;
}

// Looking at a running server -----------------------------------------------------------------------

/**
 * Wait until every worker could have booted: GET `path` answers 200 2 × `workers` times in a row,
 * with a body of `bytes` bytes when given. A body of another length fails at once, and an answer
 * other than 200 that lasts 15 s fails then: a contender that answers wrong is not measured.
 */
async function waitUntilServing(port, server, workers, { path: target = '/', bytes } = {}) {
  const deadline = Date.now() + 15_000;
  const url = `http://127.0.0.1:${port}${target}`;
  let ok = 0;
  let last;
  while (ok < 2 * workers) {
    server.checkAlive();
    if (Date.now() > deadline)
      throw new Error(`${server.label} did not answer 200 to GET ${url} within 15 s${last ? ` (its last answer: ${last.status})` : ''}`);
    last = await request(port, target);
    if (last?.status === 200 && bytes !== undefined && last.bytes !== bytes)
      throw new Error(`${server.label} answered GET ${url} with ${last.bytes} bytes, not the ${bytes} expected`);
    ok = last?.status === 200 ? ok + 1 : 0;
    if (ok === 0) await sleep(50);
  }
}

/** The pids of `pid`'s child processes that are Node processes serving (not a short-lived `node -e` helper). */
function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.includes('-e')) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** A process's resident memory in bytes. */
function rssOf(pid) {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** `pid` and every process under it (as childrenOf sees them), for the memory of a whole tree. */
function treeOf(pid) {
  return [pid, ...childrenOf(pid).flatMap(treeOf)];
}

/** A process's resident memory and its proportional share of it (shared pages divided among their users), in bytes. */
function memoryOf(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}

/** The memory (as memoryOf) of `pid` and all its descendants, summed, and how many processes that is. */
function treeMemoryOf(pid) {
  const total = { rss: 0, pss: 0, processes: 0 };
  for (const member of treeOf(pid)) {
    try {
      const { rss, pss } = memoryOf(member);
      total.rss += rss;
      total.pss += pss;
      total.processes++;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time a process has used so far (user + system), in ms. */
function cpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After comm: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * CPU time (ms) a process and all its descendants have used so far: its own, what the children it
 * reaped used (cutime, cstime), and its live children's. For a server whose worker count changes
 * while it is measured: a worker that exits is still counted, through its parent.
 */
function treeCpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const reaped = ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
  let live = 0;
  for (const child of childrenOf(pid)) {
    try {
      live += cpuMsOf(child);
    } catch {
      // exited meanwhile: counted in reaped from the next reading on
    }
  }
  return cpuMsOf(pid) + reaped + live;
}

/** Start counting the CPU `pids` use; the function returned gives each one's ms since (NaN for one gone). */
function cpuMeter(pids) {
  const before = pids.map(cpuMsOf);
  return () =>
    pids.map((pid, i) => {
      try {
        return cpuMsOf(pid) - before[i];
      } catch {
        return NaN;
      }
    });
}

/** The busiest's share of `counts` (0 to 1), or NaN when there is nothing to share. */
function busiestShare(counts) {
  const total = counts.reduce((sum, n) => sum + n, 0);
  return counts.length > 1 && total > 0 ? Math.max(...counts) / total : NaN;
}

/**
 * Start measuring how evenly `server`'s workers share the load; the function returned gives, since
 * then, the busiest worker's share of the requests (unicorn: from ctl stats, over the workers alive
 * at the end) and of the workers' CPU time (every contender with workers: /proc). NaN where a
 * contender cannot say (one process; requests outside unicorn).
 */
async function spreadMeter(server) {
  const cpu = cpuMeter(childrenOf(server.pid));
  const before = await server.requestsByWorker?.();
  return async () => {
    const cpuShare = busiestShare(cpu().filter(Number.isFinite));
    const after = await server.requestsByWorker?.();
    const requests = before && after ? busiestShare([...after].map(([id, n]) => n - (before.get(id) ?? 0))) : NaN;
    return { requests, cpu: cpuShare };
  };
}

module.exports = {
  CONTENDERS,
  APP_SERVERS,
  unicornWith,
  findNginx,
  start,
  startGroup,
  waitUntilServing,
  childrenOf,
  rssOf,
  memoryOf,
  treeMemoryOf,
  cpuMeter,
  cpuMsOf,
  treeCpuMsOf,
  spreadMeter,
  sleep,
};
