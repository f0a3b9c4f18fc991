// A 10 KB JSON response with a little CPU work per request: the document is serialised anew for each
// one, as an API serialises what it has just read (about 30 µs of JSON.stringify on this machine).
'use strict';
const items = Array.from({ length: 100 }, (_, i) => ({
  id: i + 1,
  name: `item ${i + 1}`,
  sku: `SKU-${String(100000 + i * 7919).padStart(8, '0')}`,
  price: Math.round(((i * 37) % 1000) * 1.25) / 100,
  tags: ['alpha', 'beta', 'gamma'].slice(0, 1 + (i % 3)),
  inStock: i % 4 !== 0,
}));
const document = { page: 1, perPage: items.length, total: 1000, items };

module.exports = (req, res) => {
  const body = JSON.stringify(document);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
