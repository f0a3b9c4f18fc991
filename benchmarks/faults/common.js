// What the fault pass's scenarios share: a server that is stopped whatever happens, how long a
// scenario runs in quick mode, which failures a kill excuses, and waiting for the arbiter to settle.
'use strict';
const { startUnicorn, stopUnicorn, sleep } = require('../lib/fault-server.js');

/** Run `fn(server)` with unicorn started as `options` says (lib/fault-server.js), and stop it after. */
async function withUnicorn(ctx, options, fn) {
  let server;
  try {
    server = await startUnicorn(ctx, options);
    return await fn(server);
  } finally {
    await stopUnicorn(server);
  }
}

/** `normal`, or `quick` with --quick. */
const pick = (ctx, normal, quick) => (ctx.quick ? quick : normal);

// A request sent this soon after a kill may still have gone to the killed process's connection; a
// death noticed by polling is noticed up to this late.
const KILL_GRACE_MS = 100;

/**
 * The failed requests of `tally` that a kill at one of `killTimes` (performance.now()) does not
 * excuse. A kill excuses a request in flight on the killed process: one sent before the kill (or
 * just after) whose connection was reset or closed. A refused connection, a timeout, an error
 * status or a wrong body are never excused.
 */
function unexcused(tally, killTimes, graceMs = KILL_GRACE_MS) {
  return tally.failed.filter(
    (f) => !(f.kind === 'reset' && killTimes.some((k) => f.sentAt <= k + graceMs && f.sentAt + f.ms >= k - graceMs)),
  ).length;
}

/** Wait until the log has been quiet for `quietMs` (the arbiter has acted on every signal), at most `maxMs`; resolves with the ms waited. */
async function settle(server, quietMs, maxMs) {
  const t0 = performance.now();
  let length = server.log.length;
  let quietSince = t0;
  while (performance.now() - t0 < maxMs) {
    await sleep(100);
    if (server.log.length !== length) {
      length = server.log.length;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) break;
  }
  return performance.now() - t0;
}

/** Whether the arbiter still runs; a line for `broken` if not. */
function arbiterDeath(server) {
  try {
    server.checkAlive();
    return [];
  } catch (err) {
    return [`the arbiter ${err.message.split('\n')[0].replace(/^unicorn \w+ /, '')}`];
  }
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const percent = (share) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : 'n/a');

module.exports = { withUnicorn, pick, unexcused, settle, arbiterDeath, seconds, percent, sleep };
