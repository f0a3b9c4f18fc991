/**
 * What a worker does before it serves its first request: it loads only what its settings use, and
 * it writes Node's module compile cache once it serves, so that the workers forked after it (a wake
 * from idle, a scale-up, a replacement) read the code compiled instead of compiling it again.
 */

import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { APPS, serve } from '../helpers/unicorn';

const LOADED_MODULES = path.join(APPS, 'loaded-modules.js');
const tmpDir = () => mkdtempSync(path.join(os.tmpdir(), 'unicorn-cold-start-'));

/** What each setting brings into the worker that a worker without it must not load. */
const OPTIONAL_MODULES = {
  '--static': ['/dist/src/worker/static-files.js', '/@fastify/send/'],
  '--access-logfile': ['/dist/src/worker/access-log.js', '/dist/src/worker/access-log-writer.js'],
  '--proxy-protocol': ['/dist/src/worker/proxy-protocol.js'],
  '--hook': ['/dist/src/hooks/load.js'],
  '--certfile': ['/dist/src/worker/tls.js'],
};

async function loadedBy(args: string[]): Promise<string[]> {
  const unicorn = await serve(LOADED_MODULES, args);
  const reply = await request(`${unicorn.url()}/`);
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body) as string[];
}

const loading = (files: string[], fragments: string[]) => fragments.filter((fragment) => files.some((file) => file.includes(fragment)));

test('a worker without --static, an access log, the PROXY protocol, hooks or TLS loads none of their modules', async () => {
  const files = await loadedBy([]);
  expect(files.some((file) => file.endsWith('/dist/src/worker/main.js'))).toBe(true);
  for (const fragments of Object.values(OPTIONAL_MODULES)) expect(loading(files, fragments)).toEqual([]);
});

test('each of those settings still loads what it needs', async () => {
  const dir = tmpDir();
  const hook = path.join(dir, 'hook.js');
  writeFileSync(hook, 'module.exports = { postFork() {} };\n');
  const files = await loadedBy([
    '--static',
    `/files=${dir}`,
    '--access-logfile',
    path.join(dir, 'access.log'),
    '--proxy-protocol',
    '--proxy-allow-from',
    '127.0.0.1',
    '--hook',
    hook,
  ]);
  for (const setting of ['--static', '--access-logfile', '--proxy-protocol', '--hook'] as const) {
    expect(loading(files, OPTIONAL_MODULES[setting])).toEqual(OPTIONAL_MODULES[setting]);
  }
});

test('a worker writes the compile cache once it serves, not only when it exits', async () => {
  const cache = tmpDir();
  const unicorn = await serve(LOADED_MODULES, [], { env: { NODE_COMPILE_CACHE: cache } });
  expect((await request(`${unicorn.url()}/`)).status).toBe(200);
  const cached = () => readdirSync(cache, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;
  const deadline = Date.now() + 15_000;
  while (cached() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(cached()).toBeGreaterThan(0);
  // Still serving: the files came from the running worker, not from an exit.
  expect(unicorn.workerPids()).toHaveLength(1);
});
