// An example config file: `cd examples && ../bin/unicorn` serves hello.js with it.
// Every key is described in docs/settings.md; hooks and plugins in docs/hooks.md.
import { defineConfig } from 'unicorn-server';

export default defineConfig({
  app: 'hello.js',
  workers: 2,
  bind: '127.0.0.1:8000',
  timeout: '30s',
  maxRequests: 10_000,
  maxRequestsJitter: 500,
  plugins: [['slow-requests', { threshold: '500ms' }]],
  whenReady(arbiter) {
    arbiter.log.info(`${arbiter.workerCount} workers ready`);
  },
});
