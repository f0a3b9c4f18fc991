#!/usr/bin/env node
// What the worker's response class costs a request, measured in-process against another checkout's
// build: responses made by each build's worker server (src/worker/server.ts, with the access log's
// class when asked), their head and body written (to no socket), in CPU time. Each build runs in
// processes of its own, taking turns, so that neither shares the other's inline caches and the
// machine's other work weighs on both alike; a process reports its fastest run and its first
// quartile. A load generator measures this only to within its noise, which on a shared machine is
// wider than the difference. Needs a build of both checkouts (`npm run build`).
//
//   node benchmarks/response-cost.js OTHER_CHECKOUT
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

const CASES = { async: ['async', false], sync: ['sync', false], 'async, access log': ['async', true] };
const PROCESSES = 8;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** In a child: nanoseconds of CPU per response for `root`'s build and `name`'s case. */
async function measure(root, name) {
  const [workerClass, logged] = CASES[name];
  const dist = path.join(root, 'dist', 'src', 'worker');
  const accessLog = logged
    ? await require(path.join(dist, 'access-log.js')).AccessLog.open('/dev/null', '%(h)s "%(r)s" %(s)s %(b)s', 1, quiet)
    : undefined;
  const { WorkerServer } = require(path.join(dist, 'server.js'));
  const limits = {
    limitRequestLine: 4094,
    limitRequestFields: 100,
    limitRequestFieldSize: 8190,
    limitRequestBody: 0,
    headerTimeout: 10_000,
  };
  const options = { workerClass, workerConnections: 1000, keepAlive: 5000, maxRequests: 0, accessLog, ...limits };
  const gate = { pause() {}, resume() {}, close() {} };
  const server = new WorkerServer({ listener() {}, upgrade: [] }, gate, options, quiet, { onLimit() {}, onSyncRequest() {} });
  // The class the server was given (node:http keeps it under a symbol of its own).
  const Response = server.http[Object.getOwnPropertySymbols(server.http).find((s) => s.description === 'ServerResponse')];
  const socket = new net.Socket();
  const body = 'Hello, World!\n';
  const run = (n) => {
    const started = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const req = new http.IncomingMessage(socket);
      req.method = 'GET';
      req.url = '/';
      const res = new Response(req);
      res.shouldKeepAlive = true;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }
    const used = process.cpuUsage(started);
    return ((used.user + used.system) * 1000) / n;
  };
  run(20_000);
  const runs = [];
  for (let i = 0; i < 100; i++) {
    if (i % 10 === 0) globalThis.gc();
    runs.push(run(2000));
  }
  runs.sort((a, b) => a - b);
  return [runs[0], runs[25]];
}

function main() {
  const other = process.argv[2];
  if (!other) {
    console.error('usage: node benchmarks/response-cost.js OTHER_CHECKOUT');
    process.exit(2);
  }
  const builds = { this: path.resolve(__dirname, '..'), other: path.resolve(other) };
  for (const root of Object.values(builds)) {
    if (!existsSync(path.join(root, 'dist', 'src', 'worker', 'server.js'))) {
      console.error(`response-cost: ${root} has no build (dist/src/worker/server.js); give a unicorn checkout after \`npm run build\``);
      process.exit(2);
    }
  }
  const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];
  console.log(`| case | this checkout, ns (fastest / first quartile) | ${other}, ns | difference, ns |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const name of Object.keys(CASES)) {
    const found = { this: [], other: [] };
    for (let i = 0; i < PROCESSES; i++) {
      for (const build of i % 2 ? ['other', 'this'] : ['this', 'other']) {
        const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--child', builds[build], name], { encoding: 'utf8' });
        found[build].push(JSON.parse(out));
      }
    }
    // The median over the processes of each statistic.
    const [mine, theirs] = ['this', 'other'].map((build) => [0, 1].map((k) => median(found[build].map((r) => r[k]))));
    const cell = ([fastest, quartile]) => `${fastest.toFixed(0)} / ${quartile.toFixed(0)}`;
    console.log(
      `| ${name} | ${cell(mine)} | ${cell(theirs)} | ${(mine[0] - theirs[0]).toFixed(0)} / ${(mine[1] - theirs[1]).toFixed(0)} |`,
    );
  }
  console.log(`\nNode ${process.version}, ${require('node:os').cpus()[0]?.model ?? 'cpu'}`);
}

if (process.argv[2] === '--child') {
  measure(process.argv[3], process.argv[4]).then((result) => {
    process.stdout.write(JSON.stringify(result));
    process.exit(0);
  });
} else {
  main();
}
