// Holds each request for `?ms=` before it answers: clients that keep their connections open.
'use strict';
module.exports = (req, res) => {
  const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0);
  setTimeout(() => res.end(`held ${process.pid}\n`), ms);
};
