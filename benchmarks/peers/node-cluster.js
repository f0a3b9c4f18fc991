// Plain node:cluster serving a benchmark app (APP, as apps/listen.js takes it), as people write it by
// hand. CLUSTER_POLICY=rr is node's default round-robin (the primary accepts and passes each
// connection to a worker over IPC); CLUSTER_POLICY=none is the shared handle (workers accept from one
// socket).
'use strict';
const cluster = require('node:cluster');
const path = require('node:path');

cluster.schedulingPolicy = process.env.CLUSTER_POLICY === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;

// LIBRARIES=1: each process also does what unicorn's cannot do without, with the libraries the
// project requires: the primary parses its command line with commander, and both log with pino.
const log = process.env.LIBRARIES === '1' ? libraries() : undefined;

function libraries() {
  // As unicorn does, so that the libraries are compiled once, not at every start.
  require('node:module').enableCompileCache();
  const modules = path.join(__dirname, '..', '..', 'node_modules');
  if (cluster.isPrimary) {
    const { Command } = require(path.join(modules, 'commander'));
    new Command().option('-w, --workers <n>').parse(['node', 'x', '--workers', process.env.WORKERS]);
  }
  const pino = require(path.join(modules, 'pino'));
  return pino(pino.destination({ dest: '/dev/null', sync: true }));
}

if (cluster.isPrimary) {
  log?.info('Starting');
  for (let i = 0; i < Number(process.env.WORKERS); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  log?.info('Booting worker');
  require(path.join(__dirname, '..', 'apps', 'listen.js'));
}
