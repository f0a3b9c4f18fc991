// An Express app answering what hello.js answers: the cold start of a framework's worker, which
// loads Express and its dependencies before it serves (benchmarks/package.json installs it).
'use strict';
const express = require('express');

const app = express();
app.get('/', (req, res) => res.type('text/plain').send('Hello, World!\n'));
module.exports = app;
