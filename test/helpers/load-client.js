// A bounded HTTP load from a process of its own (started by ./load.ts): CONCURRENCY loops, each
// sending GET requests one after another with a short pause, over keep-alive connections or a new
// connection per request. Every request is counted: a 2xx response is ok; a refused connection,
// another status, or a connection that fails before the whole response arrived is a failure.
// On the 'stop' message the loops finish their requests in flight and the counts are sent back.
'use strict';
const http = require('node:http');

const { url, socketPath, concurrency, keepAlive, pauseMs } = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive, maxSockets: concurrency });
const counts = { ok: 0, failed: 0, refused: 0, reusedConnections: 0, errors: {}, statuses: {} };
let stopping = false;

function once() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, socketPath, headers: keepAlive ? {} : { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode >= 200 && res.statusCode < 300) counts.ok++;
        else fail(`status ${res.statusCode}`);
        resolve();
      });
      res.on('error', (err) => {
        fail(err.code ?? err.message);
        resolve();
      });
    });
    req.on('socket', (socket) => {
      if (socket.reused) counts.reusedConnections++;
      socket.reused = true;
    });
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => {
      if (err.code === 'ECONNREFUSED') counts.refused++;
      else fail(err.code ?? err.message);
      resolve();
    });
  });
}

function fail(what) {
  counts.failed++;
  counts.errors[what] = (counts.errors[what] ?? 0) + 1;
}

async function loop() {
  while (!stopping) {
    await once();
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

const loops = Array.from({ length: concurrency }, loop);
process.send({ type: 'started' });
process.on('message', async (message) => {
  if (message.type === 'progress') process.send({ type: 'progress', counts });
  if (message.type !== 'stop') return;
  stopping = true;
  await Promise.all(loops);
  agent.destroy();
  process.send({ type: 'done', counts }, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
