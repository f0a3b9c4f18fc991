// A benchmark app listening by itself, as PM2's cluster mode, plain node:cluster and a single
// node:http process need it: APP (a module of this directory: hello.js, json.js, fairness.js) on
// PORT, loopback only.
//
// With GRACEFUL_SIGINT=1 it also shuts down the way PM2's documentation asks of an app ("Graceful
// Stop": PM2 sends SIGINT, then SIGKILL 1.6 s later): stop accepting, answer the requests already on
// their way with Connection: close, close idle keep-alive connections, and exit when the last
// connection is gone. Without it, SIGINT ends the process at once, as it does any Node app that does
// not handle the signal.
'use strict';
const http = require('node:http');
const path = require('node:path');

const app = require(path.join(__dirname, path.basename(process.env.APP || 'hello.js')));

let stopping = false;
const server = http.createServer((req, res) => {
  if (stopping) res.setHeader('connection', 'close');
  app(req, res);
});
server.listen(Number(process.env.PORT), '127.0.0.1');

if (process.env.GRACEFUL_SIGINT === '1') {
  process.on('SIGINT', () => {
    stopping = true;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
