// A copy of test/fixtures/apps/runaway.js, for benchmarks/worker-death.js.
// An app that runs away, as the watchdog tests need. Each route says on stdout that it has begun
// (so a test knows the worker is in it) and answers before it runs away, except /spin.
// /spin: the event loop spins for ever. /leak?mbps=N: from now on, N megabytes a second are kept
// and written to (resident). /leak-spinning?mbps=N: the same, in a loop that never lets the event
// loop turn again. /retain: from now on, small objects are kept until the heap is full.
module.exports = function app(req, res) {
  const url = new URL(req.url, 'http://x');
  switch (url.pathname) {
    case '/spin':
      process.stdout.write(`spinning ${process.pid}\n`);
      for (;;);
    case '/leak': {
      const mbps = Number(url.searchParams.get('mbps'));
      const hoard = [];
      // Every 20 ms, a fiftieth of a second's worth.
      setInterval(() => hoard.push(Buffer.alloc((mbps * 1024 * 1024) / 50, 1)), 20);
      process.stdout.write(`leaking ${process.pid}\n`);
      res.end(`leaking ${process.pid}\n`);
      return;
    }
    case '/leak-spinning': {
      const mbps = Number(url.searchParams.get('mbps'));
      const hoard = [];
      process.stdout.write(`leaking ${process.pid}\n`);
      for (let next = Date.now(); ; next += 20) {
        while (Date.now() < next);
        hoard.push(Buffer.alloc((mbps * 1024 * 1024) / 50, 1));
      }
    }
    case '/retain': {
      const hoard = [];
      // About 4 MB of objects every 10 ms.
      setInterval(() => {
        for (let i = 0; i < 50_000; i++) hoard.push({ i, at: Date.now(), tag: `n${i}` });
      }, 10);
      process.stdout.write(`retaining ${process.pid}\n`);
      res.end(`retaining ${process.pid}\n`);
      return;
    }
    default:
      res.end(`hello ${process.pid}\n`);
  }
};
