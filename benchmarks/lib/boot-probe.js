// Preloaded (NODE_OPTIONS=--require) into unicorn's arbiter and workers by worker-boot.js, it writes
// one JSON line per event to $BOOT_PROBE_OUT with wall-clock times in ms (sub-ms precision, so that
// the arbiter's and the workers' times compare): the arbiter's each fork, and each worker's process
// start, boot steps (as it tells the arbiter of them), readiness, and the CPU time it had used and
// the modules it had loaded by then.
'use strict';
const { appendFileSync } = require('node:fs');

const out = process.env.BOOT_PROBE_OUT;
const now = () => performance.timeOrigin + performance.now();
const record = (event) => appendFileSync(out, `${JSON.stringify({ pid: process.pid, ...event })}\n`);

if (out && process.env.UNICORN_WORKER_BOOT && process.send) {
  // Node's own start ends where this preload runs: unicorn's modules load from here.
  const steps = [['unicorn modules', now()]];
  const send = process.send;
  process.send = function (message, ...rest) {
    if (message?.type === 'unicorn:boot-step') steps.push([message.step.step, now()]);
    else if (message?.type === 'unicorn:ready')
      record({
        event: 'ready',
        start: performance.timeOrigin,
        steps,
        at: now(),
        cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
        modules: Object.keys(require.cache).length - 1,
      });
    return send.call(this, message, ...rest);
  };
} else if (out) {
  const cluster = require('node:cluster');
  const fork = cluster.fork;
  cluster.fork = function (...args) {
    const at = now();
    const worker = fork.apply(this, args);
    record({ event: 'fork', worker: worker.process.pid, at });
    return worker;
  };
}
