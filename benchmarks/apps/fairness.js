// The fairness scenario's app: /slow holds the CPU for 100 ms (a report being rendered, a password
// being hashed synchronously); every other path answers at once, as hello.js does.
'use strict';
const hello = require('./hello.js');

const SLOW_MS = 100;

module.exports = (req, res) => {
  if (req.url === '/slow') {
    const until = performance.now() + SLOW_MS;
    while (performance.now() < until);
  }
  hello(req, res);
};
