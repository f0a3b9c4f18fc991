// Plain node:cluster serving a benchmark app (APP, as apps/listen.js takes it), as people write it by
// hand. CLUSTER_POLICY=rr is node's default round-robin (the primary accepts and passes each
// connection to a worker over IPC); CLUSTER_POLICY=none is the shared handle (workers accept from one
// socket).
'use strict';
const cluster = require('node:cluster');
const path = require('node:path');

cluster.schedulingPolicy = process.env.CLUSTER_POLICY === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;

if (cluster.isPrimary) {
  for (let i = 0; i < Number(process.env.WORKERS); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  require(path.join(__dirname, '..', 'apps', 'listen.js'));
}
