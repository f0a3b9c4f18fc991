// Scenarios of steady load on an app (keep-alive, churn, json, access-log, proxies): every contender
// serves the same app with the same worker count (lib/steady-load.js), with its ratio to each peer.
'use strict';
const os = require('node:os');
const path = require('node:path');
const { runSteadyLoad, SYNC_NOTE } = require('../lib/steady-load.js');
const { APP_SERVERS: EVERY, CONTENDERS, unicornWith } = require('../lib/servers.js');

/** What every other contender is divided by, unless a scenario names its own. */
const PEERS = ['node:cluster round-robin', 'node:cluster shared-handle', 'PM2 cluster', 'node:http, one process'];

/** The access log to a file of the run's own, removed after it (a run writes tens of megabytes). */
const accessLog = (format) => ({
  name: `, access log${format ? ` (${format})` : ''}`,
  args: (dir) => ['--access-logfile', path.join(dir, 'access.log'), ...(format ? ['--access-logformat', format] : [])],
});

const SCENARIOS = {
  'keep-alive': {
    title: 'hello world, keep-alive',
    app: 'hello.js',
    headers: {},
    contenders: EVERY,
    note: SYNC_NOTE,
  },
  churn: {
    title: 'hello world, `Connection: close` on every request (connection churn)',
    app: 'hello.js',
    headers: { connection: 'close' },
    contenders: EVERY,
  },
  json: {
    title: '10 KB JSON response, serialised per request, keep-alive',
    app: 'json.js',
    headers: {},
    contenders: EVERY,
    note: `benchmarks/apps/json.js: a 10,081-byte document of 100 items, JSON.stringify'd for each request (about 30 µs of CPU). ${SYNC_NOTE}`,
  },
  // The access log's cost where it is largest: the most requests a second (keep-alive, async).
  'access-log': {
    title: 'access log on and off (keep-alive)',
    app: 'hello.js',
    headers: {},
    note: `The access log goes to a new file in ${os.tmpdir()} each run (the default format: a line of about 70 bytes), removed after it.`,
    peers: ['unicorn async'],
    contenders: [CONTENDERS['unicorn-async'], unicornWith('unicorn-async', accessLog()), unicornWith('unicorn-async', accessLog('json'))],
  },
  // What trusting a proxy costs per request: nothing trusted (no forwarded code runs), the default
  // (the loopback client is trusted; its requests carry no forwarded headers), the headers applied
  // to every request, and --proxy-protocol read on every connection (from a client sending none).
  proxies: {
    title: 'trusting a proxy (keep-alive)',
    app: 'hello.js',
    headers: {},
    note: 'wrk runs on 127.0.0.1, which the default --forwarded-allow-ips trusts. "headers applied": every request carries X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host, applied to the socket and Host.',
    peers: ['unicorn async, nothing trusted'],
    contenders: [
      unicornWith('unicorn-async', { name: ', nothing trusted', args: () => ['--forwarded-allow-ips', ''] }),
      unicornWith('unicorn-async', { name: ', default', args: () => [] }),
      {
        ...unicornWith('unicorn-async', { name: ', headers applied', args: () => [] }),
        headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'example.com' },
      },
      unicornWith('unicorn-async', { name: ', --proxy-protocol', args: () => ['--proxy-protocol'] }),
    ],
  },
};

module.exports = Object.fromEntries(
  Object.entries(SCENARIOS).map(([name, scenario]) => [
    name,
    { title: scenario.title, run: (ctx) => runSteadyLoad(name, scenario, ctx, PEERS) },
  ]),
);
