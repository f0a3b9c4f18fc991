// The fault pass's resource scenarios: too few file descriptors for the clients, an access log on a
// full disk, a worker that leaks past --max-worker-memory. None should lose a request or a worker.
'use strict';
const { readFileSync } = require('node:fs');
const { startLoad } = require('../lib/fault-load.js');
const { rssOf } = require('../lib/servers.js');
const { watchWorkers } = require('../lib/fault-server.js');
const { withUnicorn, pick, arbiterDeath, seconds, sleep } = require('./common.js');

/** A process's limit on open files (ulimit -n), as /proc says. */
const openFileLimit = (pid) => /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1] ?? 'unknown';
const mb = (bytes) => `${Math.round(bytes / 2 ** 20)} MB`;

/**
 * `ulimit -n 256` and 300 clients: more connections than one worker has descriptors for. A worker
 * that runs out should wait for descriptors to free (the clients wait in the backlog), not crash or
 * drop connections.
 */
function fdExhaustion({ title, workers, workerClass, close }) {
  return {
    title,
    async run(ctx) {
      return withUnicorn(ctx, { workers, workerClass, fdLimit: 256 }, async (server) => {
        const limit = openFileLimit(server.workers()[0]);
        const watch = watchWorkers(server);
        const load = startLoad({ port: server.port, connections: 300, close, timeoutMs: 10_000 });
        await sleep(pick(ctx, 8000, 3000));
        const tally = await load.stop();
        const { gone } = watch.stop();
        const broken = arbiterDeath(server);
        if (gone.length) broken.push(`${gone.length} worker${gone.length === 1 ? '' : 's'} crashed`);
        const emfile = server.log.filter((msg) => /EMFILE|too many open files/i.test(msg));
        return {
          sent: tally.sent,
          failures: tally.failures,
          unexpected: tally.failedCount,
          figure: `workers' open-file limit ${limit}; ${gone.length} worker crashes; ${emfile.length} EMFILE log lines${emfile.length ? ` ("${emfile[0]}")` : ''}; worst latency ${seconds(tally.worstMs)}`,
          broken,
        };
      });
    },
  };
}

const accessLogFull = {
  title: 'access log to /dev/full under keep-alive load: worker memory, and a message about the dropped lines',
  async run(ctx) {
    return withUnicorn(ctx, { args: ['--access-logfile', '/dev/full'] }, async (server) => {
      const load = startLoad({ port: server.port, connections: 16 });
      await sleep(1000);
      const workers = server.workers();
      const before = workers.map(rssOf);
      await sleep(pick(ctx, 6000, 2000));
      const growth = Math.max(
        ...workers.map((pid, i) => {
          try {
            return rssOf(pid) - before[i];
          } catch {
            return NaN;
          }
        }),
      );
      const tally = await load.stop();
      const messages = server.log.filter((msg) => /access log/i.test(msg));
      const dropped = messages.find((msg) => /drop/i.test(msg));
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `worker RSS ${growth >= 0 ? '+' : ''}${mb(growth)} over ${seconds(pick(ctx, 6000, 2000))}; ${messages.length} access-log messages; dropped-lines message: ${dropped ? `"${dropped}"` : 'none'}`,
        broken: arbiterDeath(server),
      };
    });
  },
};

const maxWorkerMemory = {
  title: '--max-worker-memory 150MB with an app leaking 100 MB/s, under load: peak worker RSS',
  async run(ctx) {
    return withUnicorn(ctx, { args: ['--max-worker-memory', '150MB'], env: { FAULTS_LEAK_MB_PER_S: '100' } }, async (server) => {
      const watch = watchWorkers(server);
      const load = startLoad({ port: server.port, connections: 8 });
      await sleep(pick(ctx, 8000, 4000));
      const tally = await load.stop();
      const { gone, peakRss } = watch.stop();
      return {
        sent: tally.sent,
        failures: tally.failures,
        unexpected: tally.failedCount,
        figure: `peak worker RSS ${mb(peakRss)} (limit 150 MB); ${gone.length} workers replaced`,
        broken: arbiterDeath(server),
      };
    });
  },
};

module.exports = {
  'fd-exhaustion': fdExhaustion({
    title: 'ulimit -n 256, 1 async worker, 300 keep-alive clients',
    workers: 1,
    workerClass: 'async',
    close: false,
  }),
  'fd-exhaustion-sync': fdExhaustion({
    title: 'ulimit -n 256, 2 sync workers, 300 clients with a connection each request',
    workers: 2,
    workerClass: 'sync',
    close: true,
  }),
  'access-log-full': accessLogFull,
  'max-worker-memory': maxWorkerMemory,
};
