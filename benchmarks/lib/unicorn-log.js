// unicorn's log, followed line by line, for the scenarios that time what the arbiter does: its
// idle stops and wake-ups ("Idle for …", "Waking: …") and its scaling ("Scaling 1 → 2 workers: …").
'use strict';
const { sleep } = require('./servers.js');

/**
 * Follow the JSON log of `server` (a unicorn started by lib/servers.js). Each entry keeps the line's
 * `msg`, its `time` in ms since the epoch (as the arbiter wrote it) and the whole line (`line`).
 */
function followLog(server) {
  const entries = [];
  server.lines.on('line', (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof line.msg !== 'string') return;
    entries.push({ msg: line.msg, time: typeof line.time === 'number' ? line.time : Date.parse(line.time), line });
  });
  return {
    entries,
    /** Where the log is now: entries after it are what happens next. */
    mark: () => entries.length,
    /** The entries from `mark` on whose message matches `pattern`. */
    since: (mark, pattern) => entries.slice(mark).filter((entry) => pattern.test(entry.msg)),
    /** The first entry from `mark` on whose message matches `pattern`, once it is logged; refused
     *  with `what` in the message if it is not within `timeoutMs`, or if the server exits. */
    async next(pattern, { mark = 0, timeoutMs = 30_000, what = String(pattern) } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = entries.slice(mark).find((entry) => pattern.test(entry.msg));
        if (found) return found;
        server.checkAlive();
        if (Date.now() > deadline) throw new Error(`${server.label}: no ${what} in its log within ${timeoutMs / 1000} s`);
        await sleep(5);
      }
    },
  };
}

module.exports = { followLog };
