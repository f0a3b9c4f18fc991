// The fault pass's kill scenarios: workers killed with SIGKILL under load (async, and a busy sync
// one), a worker dying of heap exhaustion, and the arbiter killed while a worker spins. A kill may
// lose the requests in flight on the killed process, nothing else (common.js: unexcused).
'use strict';
const net = require('node:net');
const { startLoad, requestOnce, Tally } = require('../lib/fault-load.js');
const { alive, watchWorkers } = require('../lib/fault-server.js');
const { withUnicorn, pick, unexcused, arbiterDeath, seconds, sleep } = require('./common.js');

const workerKill = {
  title: 'kill -9 one worker every 2 s under keep-alive load (2 workers)',
  async run(ctx) {
    return withUnicorn(ctx, {}, async (server) => {
      const watch = watchWorkers(server);
      const load = startLoad({ port: server.port, connections: 16 });
      await sleep(500);
      const kills = [];
      for (let i = 0; i < pick(ctx, 5, 2); i++) {
        // The oldest worker: each kill meets one that has been serving a while.
        const [victim] = server.workers().sort((a, b) => a - b);
        if (victim) {
          process.kill(victim, 'SIGKILL');
          kills.push(performance.now());
        }
        await sleep(2000);
      }
      const tally = await load.stop();
      const { longestZeroMs } = watch.stop();
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: unexcused(tally, kills),
        figure: `${kills.length} kills; longest with no ready worker ${seconds(longestZeroMs)}; worst latency ${seconds(tally.worstMs)}`,
        broken: arbiterDeath(server),
      };
    });
  },
};

const syncKillBusy = {
  title: 'kill -9 of a busy sync worker during a burst of 8 slow (2 s) requests (2 workers)',
  async run(ctx) {
    return withUnicorn(ctx, { workerClass: 'sync' }, async (server) => {
      const tally = new Tally();
      const burst = Array.from({ length: 8 }, () =>
        requestOnce({ port: server.port, path: '/slow?ms=2000', timeoutMs: 30_000 }).then((r) => tally.add(r)),
      );
      await sleep(500);
      const [victim] = server.workers();
      process.kill(victim, 'SIGKILL');
      const kill = performance.now();
      await Promise.all(burst);
      // One request was in flight on the killed worker (a sync worker serves one at a time): losing
      // it is expected; the others waited for a worker, and losing them is not.
      const lost = tally.failedCount;
      const neverExcused = unexcused(tally, [kill]);
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: neverExcused + Math.max(0, lost - neverExcused - 1),
        figure: `${lost} of 8 lost (1 was in flight on the killed worker); worst latency ${seconds(tally.worstMs)}`,
        broken: arbiterDeath(server),
      };
    });
  },
};

const heapOom = {
  title: 'a worker exhausts its heap (--max-old-space-size=64) under load: time to its replacement serving',
  async run(ctx) {
    return withUnicorn(ctx, { env: { NODE_OPTIONS: '--max-old-space-size=64' } }, async (server) => {
      const before = new Set(server.workers());
      const load = startLoad({ port: server.port, connections: 8 });
      await sleep(500);
      const t0 = performance.now();
      requestOnce({ port: server.port, path: '/oom', timeoutMs: 60_000 });
      let died = null;
      let victim = null;
      while (!died && performance.now() - t0 < 30_000) {
        await sleep(20);
        victim = [...before].find((pid) => !alive(pid));
        if (victim) died = performance.now();
      }
      let replaced = null;
      if (died) {
        // Served by a worker the server did not have before: the replacement.
        while (!replaced && performance.now() - died < 30_000) {
          const r = await requestOnce({ port: server.port, timeoutMs: 2000 });
          if (r.kind === 'ok' && !before.has(r.pid)) replaced = performance.now();
          else await sleep(20);
        }
      }
      const tally = await load.stop();
      const broken = arbiterDeath(server);
      if (!died) broken.push('no worker died within 30 s of /oom');
      else if (!replaced) broken.push('no replacement served within 30 s');
      return {
        sent: tally.sent,
        failures: tally.failures,
        // The death is noticed by polling, on a loaded machine up to a few hundred ms late.
        unexpected: died ? unexcused(tally, [died], 500) : tally.failedCount,
        figure: died
          ? `worker died ${seconds(died - t0)} after /oom; replacement served ${replaced ? seconds(replaced - died) : 'never'} after; worst latency ${seconds(tally.worstMs)}`
          : 'no worker died',
        broken,
      };
    });
  },
};

/** Whether 127.0.0.1:`port` can be listened on (by a new server, after the old one is gone). */
function canBind(port) {
  return new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The arbiter-kill scenario's --graceful-timeout: the reaper kills a stuck orphan this long and
 *  2 s more after the arbiter died (src/arbiter/reaper.ts); the check comes a second after that. */
const ORPHAN_GRACEFUL_S = 2;
const ORPHAN_CHECK_S = ORPHAN_GRACEFUL_S + 2 + 1;

const arbiterKill = {
  title: `kill -9 the arbiter while a worker spins in while (true): workers gone and port free ${ORPHAN_CHECK_S} s later (--graceful-timeout ${ORPHAN_GRACEFUL_S}s)?`,
  async run(ctx) {
    return withUnicorn(ctx, { args: ['--graceful-timeout', `${ORPHAN_GRACEFUL_S}s`] }, async (server) => {
      const workers = server.workers();
      const load = startLoad({ port: server.port, connections: 4 });
      requestOnce({ port: server.port, path: '/spin', timeoutMs: 20_000 });
      await sleep(1000);
      process.kill(server.pid, 'SIGKILL');
      // Only the requests before the kill are the server's to answer: the load stops at it (those
      // on the spinning worker end by timing out).
      const stopped = load.stop();
      await sleep(ORPHAN_CHECK_S * 1000);
      const left = workers.filter(alive);
      const bindable = await canBind(server.port);
      const broken = [];
      if (left.length)
        broken.push(`${left.length} worker${left.length === 1 ? '' : 's'} still running ${ORPHAN_CHECK_S} s after the arbiter died`);
      if (!bindable) broken.push(`port ${server.port} cannot be bound again`);
      const tally = await stopped;
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: 0,
        figure: `after ${ORPHAN_CHECK_S} s: ${left.length} of ${workers.length} workers still running; port ${bindable ? 're-bindable' : 'still held'}`,
        broken,
      };
    });
  },
};

module.exports = { 'worker-kill': workerKill, 'sync-kill-busy': syncKillBusy, 'heap-oom': heapOom, 'arbiter-kill': arbiterKill };
