// A CPU-bound handler: each request keeps the worker busy for SPIN_MS milliseconds (default 5), as a
// request that renders or computes does, so that a load saturates the workers' CPU rather than the
// load generator's.
'use strict';
const SPIN_MS = Number(process.env.SPIN_MS ?? 5);
const body = 'spun\n';

module.exports = (req, res) => {
  const until = performance.now() + SPIN_MS;
  while (performance.now() < until);
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
};
