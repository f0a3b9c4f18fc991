#!/usr/bin/env node
// A closed-loop HTTP load generator that counts every failed request by what went wrong, for the
// reload scenario (scenarios/reload.js). C loops each send a GET, read the whole response, and send
// the next, over an http.Agent of C sockets: kept alive between requests, or closed after each with
// --close.
//
//   node benchmarks/lib/closed-loop.js --port P [--connections 50] [--close] [--timeout 10]
//
// It runs as a child with an IPC channel: the parent sends 'start' to open the measured window and
// 'stop' to close it; the generator then stops sending, lets the requests in flight finish, and sends
// back one result message.
//
// Failures are told apart where wrk lumps them together (its "read" errors are both a connection reset
// and, with Connection: close, the server's orderly close after a response). A response that says
// Connection: close and is then closed is a success; a connection refused, reset, or closed before the
// whole response arrived, a failed write, a timeout and a status other than 2xx are failures.
//
// The result also has the latency of the successful requests of the window (p50, p99, max, in ms) and
// a timeline: the requests that succeeded and failed in each TIMELINE_MS of the window, by the time
// they ended.
'use strict';
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    connections: { type: 'string', default: '50' },
    close: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '10' },
  },
});
const PORT = Number(opts.port);
const CONNECTIONS = Number(opts.connections);
const TIMEOUT_MS = Number(opts.timeout) * 1000;
// A loop pauses this long after a failure before its next request. Without it a loop facing a refused
// port fails thousands of times a second, and the count would measure the loop, not the server.
const PAUSE_AFTER_FAILURE_MS = 10;
if (!Number.isInteger(PORT) || PORT <= 0) throw new Error(`--port "${opts.port}" is not accepted: expected a port number`);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const headers = opts.close ? { connection: 'close' } : {};

let counting = false;
let stopping = false;
let windowStart = 0;
let ok = 0;
/** Failed requests in the window by kind, and how many of them were sent on a reused keep-alive socket. */
const failures = {};
let onReusedSocket = 0;
let beforeWindow = 0;
/** When each failed request was sent, in ms from the window's start (the first 10,000), to line them up with reloads. */
const failureTimes = [];
/** The latency (ms) of each successful request of the window. */
const latencies = [];
const TIMELINE_MS = 250;
/** Per TIMELINE_MS of the window: [succeeded, failed] among the requests that ended in it. */
const timeline = [];

/** What went wrong, in words a reader of the results table can act on. */
function kindOf(err, responseStarted) {
  if (err.code === 'ETIMEDOUT') return 'timeout';
  if (err.code === 'ECONNREFUSED') return 'refused';
  if (responseStarted) return 'closed mid-response';
  if (err.code === 'ECONNRESET') return err.message === 'socket hang up' ? 'closed before response' : 'reset before response';
  if (err.code === 'EPIPE') return 'write failed';
  return err.code ?? err.message;
}

function record(kind, reusedSocket, sentAt) {
  if (!counting) {
    if (kind !== 'ok') beforeWindow++;
    return;
  }
  const endedAt = performance.now();
  const bucket = Math.max(0, Math.floor((endedAt - windowStart) / TIMELINE_MS));
  while (timeline.length <= bucket) timeline.push([0, 0]);
  timeline[bucket][kind === 'ok' ? 0 : 1]++;
  if (kind === 'ok') {
    latencies.push(endedAt - sentAt);
    return void ok++;
  }
  failures[kind] = (failures[kind] ?? 0) + 1;
  if (reusedSocket) onReusedSocket++;
  if (failureTimes.length < 10_000) failureTimes.push(Math.round(sentAt - windowStart));
}

/** One request; resolves with the kind of its outcome ('ok' or a failure), never rejects. */
function request() {
  return new Promise((resolve) => {
    let settled = false;
    let responseStarted = false;
    const sentAt = performance.now();
    const req = http.get({ host: '127.0.0.1', port: PORT, path: '/', agent, headers });
    const settle = (kind) => {
      if (settled) return;
      settled = true;
      record(kind, req.reusedSocket, sentAt);
      resolve(kind);
    };
    req.setTimeout(TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no response in time'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => settle(kindOf(err, responseStarted)));
    req.on('response', (res) => {
      responseStarted = true;
      res.on('error', (err) => settle(kindOf(err, true)));
      res.on('aborted', () => settle('closed mid-response'));
      res.on('end', () => settle(res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : `status ${res.statusCode}`));
      res.resume();
    });
  });
}

async function loop() {
  while (!stopping) {
    if ((await request()) !== 'ok') await new Promise((r) => setTimeout(r, PAUSE_AFTER_FAILURE_MS));
  }
}

const loops = Array.from({ length: CONNECTIONS }, loop);

process.on('message', async (message) => {
  if (message === 'start') {
    counting = true;
    windowStart = performance.now();
  } else if (message === 'stop') {
    const elapsedMs = performance.now() - windowStart;
    stopping = true;
    await Promise.all(loops);
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const at = (p) => latencies[Math.max(0, Math.ceil(p * latencies.length) - 1)] ?? NaN;
    const latency = { p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? NaN };
    const result = { ok, failures, onReusedSocket, beforeWindow, elapsedMs, failureTimes, latency, timelineMs: TIMELINE_MS, timeline };
    process.send(result, () => process.disconnect());
  }
});
// The parent went away without a 'stop': nobody is left to read the result.
process.on('disconnect', () => {
  if (!stopping) process.exit(1);
});
