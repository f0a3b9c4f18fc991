// The fault pass's app (benchmarks/faults.js). Every answer names the worker that gave it (the
// `x-worker-pid` header), so that the load can tell how requests spread and when a replacement
// serves; the body is fixed, so that a wrong one shows.
//
//   /              answers at once
//   /slow?ms=N     answers after N ms (a slow upstream: the event loop stays free)
//   /spin          never answers: the worker spins in while (true)
//   /oom           fills the JS heap until V8 gives up (the worker dies of heap exhaustion)
// FAULTS_LEAK_MB_PER_S (environment): each worker keeps this many MB a second, from its start.
'use strict';

const BODY = 'fault pass ok\n';
const LEAK_MB_PER_S = Number(process.env.FAULTS_LEAK_MB_PER_S) || 0;

if (LEAK_MB_PER_S > 0) {
  const kept = [];
  // Filled with ones, so that the memory is resident: zeroed pages fresh from the kernel are only reserved.
  setInterval(() => kept.push(Buffer.alloc((LEAK_MB_PER_S * 2 ** 20) / 10, 1)), 100).unref();
}

function answer(res) {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length, 'x-worker-pid': process.pid });
  res.end(BODY);
}

module.exports = (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/slow') return void setTimeout(answer, Number(url.searchParams.get('ms')) || 2000, res);
  if (url.pathname === '/spin') for (;;);
  if (url.pathname === '/oom') {
    const heap = [];
    for (;;) heap.push({ at: heap.length, pad: new Array(64).fill(heap.length) });
  }
  answer(res);
};

module.exports.BODY = BODY;
