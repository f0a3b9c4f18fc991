/**
 * unicorn as an app gets it (issue 14): the project packed by `npm pack` in a clean copy of it (no
 * dist/, so the prepare script must build it), the tarball installed into a fresh app project made
 * by `npm init -y`, and the app served by `npx unicorn --workers 2`. Dependencies come from the
 * registry through npm's cache. This checkout's own dist/ is never rebuilt here: other test files
 * run bin/unicorn from it meanwhile.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { typeErrors } from '../helpers/typecheck';
import { childPids, ROOT, Unicorn, waitUntilGone } from '../helpers/unicorn';

const NAME = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;

/** npm, npx and the `unicorn` script (`#!/usr/bin/env node`) run on the Node running the tests. */
const env: NodeJS.ProcessEnv = { ...process.env, PATH: [path.dirname(process.execPath), process.env.PATH].join(path.delimiter) };
for (const name of ['PORT', 'WEB_CONCURRENCY', 'UNICORN_CMD_ARGS', 'NOTIFY_SOCKET']) delete env[name];

/** Run a command to completion and return its stdout; fail with its output. The bound catches hangs. */
function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): string {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}): ${result.error?.message ?? `exit ${result.status}`}\n${result.stdout}${result.stderr}`,
    );
  }
  return result.stdout;
}

/** The project as a clean clone has it: no node_modules, no dist/, no sockets left by a run. */
function cleanCopy(to: string): void {
  cpSync(ROOT, to, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (from) => {
      if (['node_modules', 'dist', '.git'].includes(path.relative(ROOT, from))) return false;
      const stat = lstatSync(from);
      return stat.isFile() || stat.isDirectory() || stat.isSymbolicLink();
    },
  });
}

let dir: string;
beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'unicorn-install-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a checkout', () => {
  it('that is not built says so, naming the directory and the command that builds it', () => {
    const checkout = path.join(dir, 'unbuilt');
    cleanCopy(checkout);
    const result = spawnSync(process.execPath, [path.join(checkout, 'bin', 'unicorn'), '--version'], { env, encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({
      status: 1,
      stderr: `unicorn: error: unicorn in ${checkout}: it is not built (no dist/); run \`npm install\` in ${checkout}\n`,
    });
    // What npm runs when an app installs such a directory: npm installs none of a linked
    // directory's dependencies, so there is no TypeScript to build with.
    const prepare = spawnSync('npm', ['run', '--silent', 'prepare'], { cwd: checkout, env, encoding: 'utf8' });
    expect({ status: prepare.status, stderr: prepare.stderr }).toEqual({
      status: 1,
      stderr: `${NAME}: cannot build ${checkout}: its dev dependency typescript is not installed; run \`npm install\` in ${checkout}\n`,
    });
  });
});

describe('packed, and installed into a fresh app', () => {
  let tarball: string;
  let app: string;

  beforeAll(() => {
    const checkout = path.join(dir, 'checkout');
    cleanCopy(checkout);
    // The dev dependencies `npm ci` would install, for the prepare script's build.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
    run('npm', ['pack', '--pack-destination', dir], checkout);
    tarball = path.join(dir, readdirSync(dir).find((name) => name.endsWith('.tgz'))!);

    app = path.join(dir, 'app');
    mkdirSync(app);
    run('npm', ['init', '-y'], app);
    // Optional dependencies left out: unix-dgram (for the systemd plugin) is compiled on install,
    // which takes longer than the rest, and a failure to build it never fails an install.
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', tarball], app, 180_000);
  }, 300_000);

  it('carries the compiled code, its types and the docs; not the sources, tests or source maps', () => {
    const files = run('tar', ['-tzf', tarball], dir)
      .split('\n')
      .filter(Boolean)
      .map((entry) => entry.replace(/^package\//, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/unicorn',
        'dist/src/cli.js',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/hooks/systemd.js',
        'dist/hooks/systemd.d.ts',
        'hooks/systemd.md',
        'docs/deploy.md',
        'README.md',
        'package.json',
      ]),
    );
    expect(files.filter((file) => /\.map$|(?<!\.d)\.ts$|^(src|test|scripts|examples|benchmarks)\//.test(file))).toEqual([]);
  });

  it('serves the app with `npx unicorn --workers 2`, each worker answering, with the app’s config file and plugins', async () => {
    writeFileSync(
      path.join(app, 'app.js'),
      // Answers with the worker's pid; /hold keeps its worker busy until the client goes away.
      `module.exports = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-pid': String(process.pid) });
  if (req.url === '/hold') return res.flushHeaders();
  res.end(JSON.stringify({ pid: process.pid, node: process.version }));
};
`,
    );
    writeFileSync(
      path.join(app, 'unicorn.config.mjs'),
      // The plugins by both routes: imported by Node, and named for unicorn to resolve from the app.
      `import { defineConfig } from '${NAME}';
import systemd from '${NAME}/hooks/systemd';

export default defineConfig({
  plugins: [systemd, ['${NAME}/hooks/slow-requests', { threshold: '250ms' }]],
});
`,
    );
    const server = new Unicorn(
      spawn('npx', ['unicorn', '--workers', '2', '--bind', '127.0.0.1:0', 'app.js'], {
        cwd: app,
        // npx's --no (npm_config_yes=false): fail rather than fetch the registry's unrelated
        // `unicorn`, should ours be missing.
        env: { ...env, UNICORN_LOG_LEVEL: 'debug', npm_config_yes: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await server.ready(2);
    const starting = server.lines('Starting unicorn')[0]!;
    expect(starting.node).toBe(process.version);
    expect(server.lines('systemd: NOTIFY_SOCKET is not set')).toHaveLength(1);
    expect(server.lines('Slow-request logging:').map((line) => line.thresholdMs)).toEqual([250]);
    const workers = childPids(starting.pid);
    expect(workers).toHaveLength(2);

    // A sync worker busy with a request takes no new connection: the next one is the other worker's.
    const held = await hold(`${server.url()}/hold`);
    const reply = await request(`${server.url()}/`);
    held.release();
    expect(reply.status).toBe(200);
    const { pid, node } = JSON.parse(reply.body) as { pid: number; node: string };
    expect(node).toBe(process.version);
    expect([held.pid, pid].sort((a, b) => a - b)).toEqual([...workers].sort((a, b) => a - b));

    process.kill(starting.pid, 'SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone([starting.pid, ...workers])).toEqual([]);
  });

  it('gives require and TypeScript the package by its name: defineConfig, the hooks and their types', () => {
    const resolved = run(
      'node',
      ['-p', `typeof require('${NAME}').defineConfig + ' ' + require.resolve('${NAME}/hooks/slow-requests')`],
      app,
    );
    expect(resolved).toBe(`function ${path.join(app, 'node_modules', NAME, 'dist', 'hooks', 'slow-requests.js')}\n`);

    const file = path.join(app, 'typed.mts');
    writeFileSync(
      file,
      `import { defineConfig } from '${NAME}';
import type { SlowRequestsOptions } from '${NAME}/hooks/slow-requests';

const slow: SlowRequestsOptions = { threshold: '2s' };
export const typed = defineConfig({
  workers: 2,
  workerClass: 'async',
  plugins: [['${NAME}/hooks/slow-requests', slow]],
  whenReady(arbiter) {
    arbiter.log.info(\`\${arbiter.workerCount} workers\`);
  },
});
export const misspelt = defineConfig({ wrokers: 2 });
`,
    );
    // Node's types are the app's to install; the declarations the package ships are checked too.
    const errors = typeErrors([file], app, { typeRoots: [path.join(ROOT, 'node_modules', '@types')] });
    // The one mistake, and only it: the types are real, not `any`.
    expect(errors).toEqual([
      expect.stringMatching(/^typed\.mts: Object literal may only specify known properties, and 'wrokers' does not exist/),
    ]);
  }, 60_000);
});

describe('the docs', () => {
  it('install the package by its name, and import it by that name', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const install = /^## Install\n([\s\S]*?)^## /m.exec(readme);
    expect(readme.match(/^## .*$/m)![0]).toBe('## Install');
    expect(install![1]).toContain(`npm install ${NAME}\nnpx unicorn `);
    expect(readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8')).toContain(`npm install ${NAME}`);
    // Every import of the package in the docs, the examples and the first-party plugins' docs.
    const files = [
      'README.md',
      ...['docs', 'hooks', 'examples'].flatMap((sub) =>
        readdirSync(path.join(ROOT, sub), { recursive: true, encoding: 'utf8' }).map((f) => path.join(sub, f)),
      ),
    ];
    const imports = files
      .filter((file) => /\.(md|mjs|js|ts)$/.test(file))
      .flatMap((file) =>
        [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/from '(unicorn[^'/]*)[^']*'|as `(unicorn[^`/]*)\/hooks/g)].map(
          (m) => `${file}: ${m[1] ?? m[2]}`,
        ),
      );
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((found) => !found.endsWith(`: ${NAME}`))).toEqual([]);
  });
});

/** A request the app keeps open: resolves with the pid of the worker holding it once its headers
 *  arrive; `release()` closes the connection. */
function hold(url: string): Promise<{ pid: number; release: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      // Closing a response before its end makes it emit `aborted`: that is the point here.
      res.on('error', () => {}).resume();
      resolve({ pid: Number(res.headers['x-pid']), release: () => req.destroy() });
    });
    req.on('error', reject);
  });
}
