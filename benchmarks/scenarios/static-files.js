// Static files (static-1k, static-1m): one file of a directory made for the run, asked for again and
// again on keep-alive connections, from unicorn's own --static and from its peers with the same
// worker count: express.static and @fastify/static as apps under unicorn with the same worker class
// (so that only the static path differs), and nginx from the machine's packages.
'use strict';
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runSteadyLoad, SYNC_NOTE } = require('../lib/steady-load.js');
const { CONTENDERS, findNginx, unicornWith } = require('../lib/servers.js');

const FILES = { 'static-1k': { file: '1k.txt', bytes: 1024, size: '1 KB' }, 'static-1m': { file: '1m.txt', bytes: 2 ** 20, size: '1 MB' } };

/** A directory holding every scenario's file: lines of text, as a stylesheet or a script would be. */
function makeSite() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-static-'));
  const line = `${'0123456789abcdef'.repeat(3)}\n`;
  for (const { file, bytes } of Object.values(FILES))
    writeFileSync(path.join(dir, file), line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
  return dir;
}

function scenarioFor(name, site) {
  const { file, bytes, size } = FILES[name];
  const unicornStatic = (id) => unicornWith(id, { name: ', --static', args: () => ['--static', `/static=${site}`] });
  return {
    // unicorn's --static answers before the app; the app at / (hello.js, 14 bytes) answers only
    // when --static does not, which the length checked before the load would catch.
    app: 'hello.js',
    path: `/static/${file}`,
    bytes,
    env: { STATIC_DIR: site },
    headers: {},
    serving: `/static/${file} (${bytes} bytes) from a directory made for the run`,
    note: [
      `unicorn runs with \`--static /static=DIR\` beside benchmarks/apps/hello.js at /; express.static (benchmarks/apps/express-static.js) and @fastify/static (benchmarks/apps/fastify-static.js) are apps served by unicorn with the same worker class; nginx runs as many worker processes, with \`sendfile on\` and \`tcp_nopush on\` as Debian's nginx.conf has them. No contender writes an access log (unicorn's is off by default). Each answered GET ${size} with 200 and ${bytes} bytes 2 × workers times in a row before its load.`,
      SYNC_NOTE,
    ].join(' '),
    contenders: [
      unicornStatic('unicorn-sync'),
      CONTENDERS['express-static-sync'],
      CONTENDERS['fastify-static-sync'],
      unicornStatic('unicorn-async'),
      CONTENDERS['express-static-async'],
      CONTENDERS['fastify-static-async'],
      CONTENDERS.nginx,
    ],
    ratios: [
      { heading: 'express.static, same class', peer: (c) => c.workerClass && `express.static, unicorn ${c.workerClass}`, of: 'rps' },
      { heading: 'nginx', peer: () => 'nginx', of: 'rps' },
    ],
  };
}

async function run(name, ctx) {
  const site = makeSite();
  try {
    const scenario = scenarioFor(name, site);
    if (!findNginx()) {
      ctx.progress(`${name}: nginx is not installed (apt-get install nginx): measured without it`);
      scenario.contenders = scenario.contenders.filter((c) => c.kind !== 'nginx');
      scenario.note += ' nginx is not installed on this machine: not measured.';
    }
    return await runSteadyLoad(name, scenario, ctx);
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
}

module.exports = Object.fromEntries(
  Object.entries(FILES).map(([name, { size }]) => [name, { title: `a ${size} file, keep-alive`, run: (ctx) => run(name, ctx) }]),
);
