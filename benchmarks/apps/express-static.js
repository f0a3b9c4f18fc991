// express.static (serve-static) serving the directory STATIC_DIR at /static: the peer of unicorn's
// --static, run by unicorn as an ordinary app.
'use strict';
const express = require('express');

const app = express();
app.use('/static', express.static(process.env.STATIC_DIR));

module.exports = app;
