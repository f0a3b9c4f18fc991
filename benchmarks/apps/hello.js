// The handler every contender serves: the same bytes, no framework.
const body = 'Hello, World!\n';

module.exports = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
};
