// Plain node:cluster serving benchmarks/apps/hello.js, as people write it by hand.
// CLUSTER_POLICY=rr is node's default round-robin (the primary accepts and passes each connection to
// a worker over IPC); CLUSTER_POLICY=none is the shared handle (workers accept from one socket).
const cluster = require('node:cluster');
const http = require('node:http');

cluster.schedulingPolicy = process.env.CLUSTER_POLICY === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;

if (cluster.isPrimary) {
  for (let i = 0; i < Number(process.env.WORKERS); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  http.createServer(require('../apps/hello.js')).listen(Number(process.env.PORT), '127.0.0.1');
}
