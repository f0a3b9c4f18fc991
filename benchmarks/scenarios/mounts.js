// What a mount costs: the same app (benchmarks/apps/hello.js) served as the app at /, mounted with
// --mount /api=… beside another app at / (benchmarks/apps/json.js), and mounted alone, each asked for
// /api/hello (the same bytes on the wire) under the same keep-alive load, per worker class. On a shared
// machine the CPU each request takes is the steadier measure; requests a second are shown beside it.
'use strict';
const path = require('node:path');
const { runSteadyLoad, SYNC_NOTE } = require('../lib/steady-load.js');
const { unicornWith } = require('../lib/servers.js');

const HELLO = path.join(__dirname, '..', 'apps', 'hello.js');
/** The length of hello.js's body: an answer from json.js, the app at / beside the mount, is 10 KB. */
const HELLO_BYTES = Buffer.byteLength('Hello, World!\n');

// Asked for the same target as the mounted app: the same bytes on the wire, so that only the routing differs.
const atRoot = (id) => unicornWith(id, { name: ', app at /', path: '/api/hello' });
const mounted = (id) =>
  unicornWith(id, { name: ', mounted at /api', app: 'json.js', path: '/api/hello', args: () => ['--mount', `/api=${HELLO}`] });
/** The same mount with no app at / beside it: what the router costs, without a second app in the worker. */
const mountedAlone = (id) =>
  unicornWith(id, { name: ', mounted at /api alone', app: '', path: '/api/hello', args: () => ['--mount', `/api=${HELLO}`] });

const scenario = {
  app: 'hello.js',
  bytes: HELLO_BYTES,
  headers: {},
  serving: 'benchmarks/apps/hello.js, at / or mounted at /api',
  note: `"app at /": \`unicorn benchmarks/apps/hello.js\`, asked for /api/hello (which it answers as it answers /). "mounted at /api": \`unicorn --mount /api=benchmarks/apps/hello.js benchmarks/apps/json.js\`, asked for /api/hello; every contender answered with hello.js's ${HELLO_BYTES} bytes before its load. The target: a mounted app within 3% of the same app at / (× app at / ≥ 0.97 in requests a second, ≤ 1.03 in CPU a request). ${SYNC_NOTE}`,
  contenders: [
    atRoot('unicorn-sync'),
    mounted('unicorn-sync'),
    mountedAlone('unicorn-sync'),
    atRoot('unicorn-async'),
    mounted('unicorn-async'),
    mountedAlone('unicorn-async'),
  ],
  ratios: [
    { heading: 'app at /, same class', peer: (c) => `unicorn ${c.workerClass}, app at /`, of: 'rps' },
    { heading: 'app at /, same class', peer: (c) => `unicorn ${c.workerClass}, app at /`, of: 'cpuUs' },
  ],
};

module.exports = {
  mounts: {
    title: 'an app mounted under a prefix against the same app at / (keep-alive)',
    run: (ctx) => runSteadyLoad('mounts', scenario, ctx),
  },
};
