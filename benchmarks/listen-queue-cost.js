#!/usr/bin/env node
// What one reading of the listen backlog costs (src/arbiter/elastic/backlog.ts, acceptQueue): the
// arbiter's loop may call it once a second. It reads /proc/net/tcp and tcp6 whole, so its cost grows
// with every TCP socket of the network namespace, the server's or not. This opens PAIRS loopback
// connections (2 sockets each in the table) beside one listener bound as the arbiter binds (on
// 127.0.0.1, or ::1 with --ipv6), then times CALLS readings, and as many reads of the whole tables
// for comparison. Run after `npm run build`.
//
//   node benchmarks/listen-queue-cost.js [--pairs 5000] [--calls 200] [--ipv6]
'use strict';
const net = require('node:net');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src', 'arbiter');
const { bindAll, closeAll } = require(path.join(dist, 'listeners.js'));
const { acceptQueue } = require(path.join(dist, 'elastic', 'backlog.js'));

const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const PAIRS = option('pairs', 5000);
const CALLS = option('calls', 200);
const lines = () => ['/proc/net/tcp', '/proc/net/tcp6'].reduce((n, f) => n + readFileSync(f, 'latin1').split('\n').length - 2, 0);

async function main() {
  const host = process.argv.includes('--ipv6') ? '::1' : '127.0.0.1';
  const listeners = await bindAll([{ kind: 'tcp', host, port: 0 }], 128);
  const held = [];
  const peer = net.createServer((socket) => held.push(socket));
  await new Promise((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const { port } = peer.address();
  for (let i = 0; i < PAIRS; i += 500) {
    await Promise.all(
      Array.from(
        { length: Math.min(500, PAIRS - i) },
        () =>
          new Promise((resolve, reject) => {
            const client = net.connect({ host: '127.0.0.1', port }, resolve).once('error', reject);
            held.push(client);
          }),
      ),
    );
  }
  const sockets = lines();
  acceptQueue(listeners); // the inode is read once, then cached
  const time = (what) => {
    const times = [];
    for (let i = 0; i < CALLS; i++) {
      const t = process.hrtime.bigint();
      what();
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((x, y) => x - y);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
    return `${at(0.5)} ms median, p90 ${at(0.9)} ms, max ${at(1)} ms`;
  };
  const queue = time(() => acceptQueue(listeners));
  const whole = time(() => ['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFileSync(f, 'latin1')));
  console.log(`${sockets} sockets in /proc/net/tcp and tcp6, the listener on ${host}, ${CALLS} calls each`);
  console.log(`  acceptQueue:               ${queue}`);
  console.log(`  reading both tables whole: ${whole}`);
  for (const s of held) s.destroy();
  peer.close();
  closeAll(listeners);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
