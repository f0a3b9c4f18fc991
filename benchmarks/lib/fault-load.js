// The load of the fault pass (benchmarks/faults.js), in its own process's event loop: closed loops
// of GET requests, each request counted by how it ended, its latency kept, and the worker that
// answered it (the `x-worker-pid` header of benchmarks/apps/faults.js) tallied.
//
// A request succeeded when its whole 2xx response arrived with the app's body. It failed as
// `refused` (connection refused), `reset` (the connection reset or closed before the whole
// response), `timeout` (no whole response within the timeout), `5xx`, `status N` (another status),
// or `wrong body`.
'use strict';
const http = require('node:http');
const { BODY } = require('../apps/faults.js');

// A loop pauses this long after a failure before its next request, so that a refused port costs
// about as many requests as the clients would have sent, not thousands a second.
const PAUSE_AFTER_FAILURE_MS = 10;

/** What went wrong with a request that raised `err`. */
function kindOf(err) {
  if (err.code === 'ETIMEDOUT') return 'timeout';
  if (err.code === 'ECONNREFUSED') return 'refused';
  if (['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(err.code)) return 'reset';
  return err.code ?? err.message;
}

/**
 * One GET to 127.0.0.1:`port`; resolves (never rejects) with `{ kind, ms, pid, reused, sentAt }`:
 * kind 'ok' or the failure's, the latency, the answering worker's pid (when a response came),
 * whether it went on a kept-alive connection, and when it was sent (performance.now()).
 */
function requestOnce({ port, path = '/', agent = false, close = false, timeoutMs = 10_000 }) {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    let pid = null;
    let settled = false;
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers: close ? { connection: 'close' } : {} });
    const settle = (kind) => {
      if (settled) return;
      settled = true;
      resolve({ kind, ms: performance.now() - sentAt, pid, reused: Boolean(req.reusedSocket), sentAt });
    };
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('no response in time'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => settle(kindOf(err)));
    req.on('response', (res) => {
      pid = Number(res.headers['x-worker-pid']) || null;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('error', (err) => settle(kindOf(err)));
      res.on('aborted', () => settle('reset'));
      res.on('end', () => {
        if (res.statusCode >= 500) settle('5xx');
        else if (res.statusCode < 200 || res.statusCode >= 300) settle(`status ${res.statusCode}`);
        else settle(body === BODY ? 'ok' : 'wrong body');
      });
    });
  });
}

/** Counts of requests: sent, failed by kind, worst latency, answers by worker pid. */
class Tally {
  constructor() {
    this.sent = 0;
    this.failures = {};
    this.worstMs = 0;
    this.byWorker = new Map();
    /** The failed requests: when sent, and how they failed (to tell in-flight losses from others). */
    this.failed = [];
  }

  add(result) {
    this.sent++;
    this.worstMs = Math.max(this.worstMs, result.ms);
    if (result.pid) this.byWorker.set(result.pid, (this.byWorker.get(result.pid) ?? 0) + 1);
    if (result.kind === 'ok') return;
    this.failures[result.kind] = (this.failures[result.kind] ?? 0) + 1;
    this.failed.push(result);
  }

  get failedCount() {
    return this.failed.length;
  }

  /** The busiest worker's share of the answers, 0..1. */
  busiestShare() {
    const counts = [...this.byWorker.values()];
    const total = counts.reduce((n, c) => n + c, 0);
    return total ? Math.max(...counts) / total : NaN;
  }
}

/**
 * Start `connections` closed loops on 127.0.0.1:`port`: kept-alive connections, or one per request
 * with `close`. `phase()` starts a new Tally (the one returned by `stop()` or `phase()` is the
 * previous one's); `stop()` lets the requests in flight end and resolves with the last Tally.
 */
function startLoad({ port, connections, close = false, path = '/', timeoutMs = 10_000 }) {
  const agent = new http.Agent({ keepAlive: !close, maxSockets: connections });
  let tally = new Tally();
  let stopping = false;
  const loop = async () => {
    while (!stopping) {
      const result = await requestOnce({ port, path, agent, close, timeoutMs });
      tally.add(result);
      if (result.kind !== 'ok') await new Promise((r) => setTimeout(r, PAUSE_AFTER_FAILURE_MS));
    }
  };
  const loops = Array.from({ length: connections }, loop);
  return {
    phase() {
      const previous = tally;
      tally = new Tally();
      return previous;
    },
    async stop() {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
      return tally;
    },
  };
}

module.exports = { requestOnce, startLoad, Tally };
