// The smallest app unicorn serves: a Node request listener, the default export.
// Run it with: bin/unicorn --workers 4 examples/hello.js
module.exports = (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`Hello from worker ${process.pid}\n`);
};
