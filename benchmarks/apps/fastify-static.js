// @fastify/static serving the directory STATIC_DIR at /static/: a peer of unicorn's --static, a
// Fastify instance run by unicorn as an ordinary app.
'use strict';
const fastify = require('fastify')();

fastify.register(require('@fastify/static'), { root: process.env.STATIC_DIR, prefix: '/static/' });

module.exports = fastify;
