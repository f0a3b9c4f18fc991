// Throughput and latency under a steady load from a real load generator: wrk when it is installed
// (apt-get install wrk), else autocannon from npm.
'use strict';
const { spawn, spawnSync } = require('node:child_process');

const hasWrk = () => spawnSync('wrk', ['--version']).error === undefined;

function parseWrkDuration(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

/** One thread: on a 2-core machine a second one takes a core from the server under test. */
async function runWrk({ port, path = '/', headers, connections, duration }) {
  const args = ['-t', '1', '-c', String(connections), '-d', `${duration}s`, '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(`http://127.0.0.1:${port}${path}`);
  const out = await new Promise((resolve, reject) => {
    const child = spawn('wrk', args);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('exit', () => resolve(text));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = parseWrkDuration(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseWrkDuration(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // With Connection: close, wrk counts the server's orderly close after each response as a read error.
  const errors =
    non2xx + (socket ? Number(socket[1]) + Number(socket[3]) + Number(socket[4]) + (headers.connection ? 0 : Number(socket[2])) : 0);
  return { rps, p50, p99, errors };
}

async function runAutocannon({ port, path = '/', headers, connections, duration }) {
  const autocannon = require('autocannon');
  const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections, duration, headers });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
  };
}

/** `generator`: 'wrk' or 'autocannon'; `path` the request target (default /). */
const runLoad = (generator, options) => (generator === 'wrk' ? runWrk(options) : runAutocannon(options));

module.exports = { hasWrk, runLoad };
