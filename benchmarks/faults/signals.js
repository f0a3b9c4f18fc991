// The fault pass's signal scenarios: storms of HUP, of HUP/TTIN/TTOU, of `unicorn ctl reload`, a
// USR2 upgrade, an arbiter stopped (SIGSTOP) past --timeout, and signals in its first moments. None
// of them should lose a request.
'use strict';
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');
const { startLoad, requestOnce, Tally } = require('../lib/fault-load.js');
const { ctl, alive, startUnicorn, stopUnicorn } = require('../lib/fault-server.js');
const { waitUntilServing } = require('../lib/servers.js');
const { withUnicorn, pick, settle, arbiterDeath, seconds, sleep } = require('./common.js');

const LOAD = { connections: 16 };
const count = (log, pattern) => log.filter((msg) => pattern.test(msg)).length;

/** Send `signals` (names) to the arbiter evenly over `spreadMs`, under load; then let it settle. */
async function storm(server, signals, spreadMs) {
  const load = startLoad({ port: server.port, ...LOAD });
  await sleep(500);
  const t0 = performance.now();
  for (let i = 0; i < signals.length; i++) {
    await sleep(t0 + (i * spreadMs) / signals.length - performance.now());
    process.kill(server.pid, signals[i]);
  }
  const settledMs = await settle(server, 2000, 60_000);
  return { tally: await load.stop(), settledMs };
}

const hupStorm = {
  title: '50 HUPs in 5 s under keep-alive load (quick: 10 in 1 s)',
  async run(ctx) {
    const hups = pick(ctx, 50, 10);
    return withUnicorn(ctx, {}, async (server) => {
      const { tally, settledMs } = await storm(server, Array(hups).fill('SIGHUP'), pick(ctx, 5000, 1000));
      const reloads = count(server.log, /^Reload complete/);
      const failed = count(server.log, /^Reload (failed|refused)/);
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `${hups} HUPs: ${reloads} reloads completed, ${failed} failed; settled ${seconds(settledMs)} after the last; ${server.workers().length} workers`,
        broken: arbiterDeath(server),
      };
    });
  },
};

// A fixed sequence (no randomness), so that every run replays the same storm.
const MIX = ['SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGTTIN', 'SIGHUP', 'SIGTTOU', 'SIGTTOU', 'SIGTTIN', 'SIGHUP', 'SIGTTIN'];

const signalMix = {
  title: 'HUP, TTIN and TTOU mixed, 30 in 5 s under load; the running workers must match the count the arbiter keeps',
  async run(ctx) {
    const signals = Array.from({ length: pick(ctx, 30, 10) }, (_, i) => MIX[i % MIX.length]);
    return withUnicorn(ctx, {}, async (server) => {
      const { tally, settledMs } = await storm(server, signals, pick(ctx, 5000, 1000));
      // A reload takes the count from the configuration (2), as Gunicorn's does; a TTIN or TTOU
      // while the reload is under way stands. So the count the signals ask for depends on how the
      // reloads fell, and what can be checked is that the running set matches the arbiter's target.
      const stats = await ctl(ctx, server, 'stats', '--json');
      let target = 'unknown';
      try {
        target = JSON.parse(stats.output).workerCount;
      } catch {}
      const workers = server.workers().length;
      const broken = arbiterDeath(server);
      if (workers !== target) broken.push(`${workers} workers running where the arbiter's target is ${target}`);
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `${signals.length} signals; ${workers} workers (the arbiter's target: ${target}); settled ${seconds(settledMs)} after the last`,
        broken,
      };
    });
  },
};

const ctlReload = {
  title: '`unicorn ctl reload` in a loop for 5 s under load',
  async run(ctx) {
    return withUnicorn(ctx, {}, async (server) => {
      const load = startLoad({ port: server.port, ...LOAD });
      await sleep(500);
      const t0 = performance.now();
      const outcomes = [];
      while (performance.now() - t0 < pick(ctx, 5000, 1500)) outcomes.push(await ctl(ctx, server, 'reload'));
      const tally = await load.stop();
      const failedReloads = outcomes.filter((o) => o.code !== 0);
      const broken = arbiterDeath(server);
      if (failedReloads.length) broken.push(`ctl reload failed ${failedReloads.length} times: ${failedReloads[0].output.split('\n')[0]}`);
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `${outcomes.length} reloads, ${failedReloads.length} failed; ${server.workers().length} workers`,
        broken,
      };
    });
  },
};

/** The pid a pidfile names, or null. */
function readPid(file) {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

async function waitFor(check, ms) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const value = check();
    if (value) return value;
    await sleep(50);
  }
  return null;
}

const usr2Upgrade = {
  title: 'USR2 upgrade under load: USR2, then TERM to the old arbiter once the new one serves',
  async run(ctx) {
    const pidfile = path.join(ctx.dir, `usr2-${process.pid}.pid`);
    return withUnicorn(ctx, { args: ['-p', pidfile] }, async (server) => {
      let successor = null;
      try {
        const load = startLoad({ port: server.port, ...LOAD });
        await sleep(500);
        const t0 = performance.now();
        process.kill(server.pid, 'SIGUSR2');
        successor = await waitFor(() => readPid(`${pidfile}.2`), 15_000);
        const broken = [];
        let figure;
        if (!successor) {
          broken.push(`no ${path.basename(pidfile)}.2 within 15 s of USR2`);
          figure = 'no new arbiter';
        } else {
          // Its workers: 2 more "ready" lines than the old arbiter's own.
          await waitFor(() => count(server.log, /^Worker \(pid:\d+\) ready/) >= 4, 15_000);
          const servingMs = performance.now() - t0;
          await sleep(500);
          process.kill(server.pid, 'SIGTERM');
          const oldExit = await Promise.race([server.exited, sleep(15_000).then(() => 'still running')]);
          const tookOver = await waitFor(() => !existsSync(`${pidfile}.2`) && readPid(pidfile) === successor, 5000);
          await sleep(1000);
          if (oldExit !== 0)
            broken.push(`the old arbiter ${oldExit === 'still running' ? 'was still running 15 s after TERM' : `exited with ${oldExit}`}`);
          if (!tookOver) broken.push('the new arbiter did not take over the pidfile');
          if (!alive(successor)) broken.push('the new arbiter died');
          figure = `new arbiter's workers ready ${seconds(servingMs)} after USR2; old arbiter exited ${oldExit}; new one ${tookOver ? 'holds the pidfile' : 'does not hold the pidfile'}`;
        }
        const tally = await load.stop();
        return { sent: tally.sent, failures: tally.failures, unexpected: tally.failedCount, figure, broken };
      } finally {
        if (successor && alive(successor)) {
          process.kill(successor, 'SIGTERM');
          await waitFor(() => !alive(successor), 10_000);
        }
      }
    });
  },
};

const arbiterStop = {
  title: 'SIGSTOP the arbiter for longer than --timeout (2 s), then SIGCONT, under load',
  async run(ctx) {
    return withUnicorn(ctx, { args: ['--timeout', '2s'] }, async (server) => {
      const load = startLoad({ port: server.port, ...LOAD });
      await sleep(500);
      const before = server.workers().sort();
      process.kill(server.pid, 'SIGSTOP');
      await sleep(pick(ctx, 4000, 3000));
      process.kill(server.pid, 'SIGCONT');
      await sleep(pick(ctx, 3000, 2000));
      const after = server.workers().sort();
      const tally = await load.stop();
      const same = before.join() === after.join();
      const broken = arbiterDeath(server);
      if (!same) broken.push(`workers replaced: ${before.join(', ')} became ${after.join(', ')}`);
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `stopped ${seconds(pick(ctx, 4000, 3000))}; worker pids ${same ? 'unchanged' : 'changed'}; worst latency ${seconds(tally.worstMs)}`,
        broken,
      };
    });
  },
};

const earlySignals = {
  title: 'HUP, TERM and USR2 about 0.1 s after start: the arbiter must not die of the signal',
  async run(ctx) {
    const outcomes = [];
    const broken = [];
    const tally = new Tally();
    for (const signal of ['SIGHUP', 'SIGTERM', 'SIGUSR2']) {
      const pidfile = path.join(ctx.dir, `early-${signal}.pid`);
      let server;
      try {
        server = await startUnicorn(ctx, { args: ['-p', pidfile], wait: false });
        await sleep(100);
        process.kill(server.pid, signal);
        const exit = await Promise.race([server.exited, sleep(signal === 'SIGTERM' ? 10_000 : 2000).then(() => null)]);
        let outcome;
        if (typeof exit === 'string') outcome = `died of ${exit}`;
        else if (exit !== null) outcome = `exited ${exit}`;
        else {
          await waitUntilServing(server.port, server, 2).then(
            () => (outcome = 'serving'),
            () => (outcome = 'not serving'),
          );
          for (let i = 0; i < 10; i++) tally.add(await requestOnce({ port: server.port }));
        }
        const wanted = signal === 'SIGTERM' ? 'exited 0' : 'serving';
        if (outcome !== wanted) broken.push(`${signal.slice(3)}: ${outcome}`);
        outcomes.push(`${signal.slice(3)} ${outcome}`);
      } finally {
        const successor = readPid(`${pidfile}.2`);
        if (successor && alive(successor)) process.kill(successor, 'SIGKILL');
        await stopUnicorn(server);
      }
    }
    return { sent: tally.sent, failures: tally.failures, unexpected: tally.failedCount, figure: outcomes.join(', '), broken };
  },
};

module.exports = {
  'hup-storm': hupStorm,
  'signal-mix': signalMix,
  'ctl-reload': ctlReload,
  'usr2-upgrade': usr2Upgrade,
  'arbiter-stop': arbiterStop,
  'early-signals': earlySignals,
};
