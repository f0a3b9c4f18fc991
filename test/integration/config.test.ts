import { mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { typeErrors } from '../helpers/typecheck';
import { APPS, ROOT, runToExit, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'config');

/** A directory holding the given files: where unicorn starts, so that it finds unicorn.config.*. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** --print-config's rows: setting → value and source. */
async function printConfig(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const { code, stderr, unicorn } = await runToExit(['--print-config', ...args], options);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return new Map(
    unicorn.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [key, value, ...source] = line.split(/\s{2,}/);
        return [key!, { value: value!, source: source.join(' ') }] as const;
      }),
  );
}

/** The one line of a refusal. */
async function refusal(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const { code, stderr } = await runToExit(args, options);
  return { code, lines: stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{')) };
}

describe('sources, lowest first: defaults < config file < UNICORN_CMD_ARGS < command line', () => {
  // Every combination of the four sources for one setting (workers), with WEB_CONCURRENCY as the
  // default's own source: the highest given wins, and --print-config names it.
  const combos = Array.from({ length: 16 }, (_, bits) => ({
    env: Boolean(bits & 1),
    file: Boolean(bits & 2),
    cmdArgs: Boolean(bits & 4),
    cli: Boolean(bits & 8),
  }));
  it.each(combos)('%j', async (given) => {
    const dir = project(given.file ? { 'unicorn.config.mjs': `export default { workers: 3 };\n` } : {});
    const env: NodeJS.ProcessEnv = {
      WEB_CONCURRENCY: given.env ? '2' : undefined,
      UNICORN_CMD_ARGS: given.cmdArgs ? '--workers 4' : undefined,
    };
    const rows = await printConfig([...(given.cli ? ['-w', '5'] : []), ROUTES], { cwd: dir, env });
    const expected = given.cli
      ? { value: '5', source: '--workers' }
      : given.cmdArgs
        ? { value: '4', source: 'UNICORN_CMD_ARGS: --workers' }
        : given.file
          ? { value: '3', source: 'unicorn.config.mjs: workers' }
          : given.env
            ? { value: '2', source: 'WEB_CONCURRENCY' }
            : { value: '1', source: 'default' };
    expect(rows.get('workers')).toEqual(expected);
  });

  it('layers different settings from each source, and PORT moves the default bind below the file', async () => {
    const dir = project({
      'unicorn.config.json': JSON.stringify({
        app: ROUTES,
        timeout: 10,
        gracefulTimeout: '5s',
        keepAlive: 3,
        bind: ['127.0.0.1:7001', 'unix:app.sock'],
      }),
    });
    const rows = await printConfig(['--graceful-timeout', '7s'], {
      cwd: dir,
      env: { PORT: '9000', UNICORN_CMD_ARGS: `--timeout '20s' --hook ./a.js` },
    });
    expect(rows.get('app')).toEqual({ value: ROUTES, source: 'unicorn.config.json: app' });
    expect(rows.get('timeout')).toEqual({ value: '20s', source: 'UNICORN_CMD_ARGS: --timeout' });
    expect(rows.get('gracefulTimeout')).toEqual({ value: '7s', source: '--graceful-timeout' });
    expect(rows.get('keepAlive')).toEqual({ value: '3s', source: 'unicorn.config.json: keepAlive' });
    // Relative paths in the file are relative to where unicorn started.
    expect(rows.get('bind')).toEqual({
      value: `http://127.0.0.1:7001 unix:${path.join(dir, 'app.sock')}`,
      source: 'unicorn.config.json: bind',
    });
    expect(rows.get('hook')).toEqual({ value: './a.js', source: 'UNICORN_CMD_ARGS: --hook' });
    expect(rows.get('config')).toEqual({ value: path.join(dir, 'unicorn.config.json'), source: 'found where unicorn started' });
    const withoutFile = await printConfig([ROUTES], { cwd: project({}), env: { PORT: '9000' } });
    // The default moved by PORT is credited to it.
    expect(withoutFile.get('bind')).toEqual({ value: 'http://0.0.0.0:9000', source: 'PORT' });
  });

  it("lists the config file's plugins, before --hook's, and shows where the control socket goes by default", async () => {
    const dir = project({
      'unicorn.config.mjs': `export default { plugins: ['prometheus', ['slow-requests', { thresholdMs: 200 }], { whenReady() {} }] };\n`,
    });
    const runtime = mkdtempSync(path.join(tmpdir(), 'unicorn-runtime-'));
    const rows = await printConfig(['--hook', 'systemd', ROUTES], { cwd: dir, env: { XDG_RUNTIME_DIR: runtime } });
    expect(rows.get('plugins')).toEqual({ value: 'prometheus slow-requests <hooks>', source: 'unicorn.config.mjs: plugins' });
    expect(rows.get('hook')).toEqual({ value: 'systemd', source: '--hook' });
    // The arbiter's pid names the socket once it runs.
    expect(rows.get('controlSocket')).toEqual({ value: path.join(runtime, 'unicorn', 'PID.sock'), source: 'default' });

    const plain = await printConfig([ROUTES], { cwd: project({}), env: { XDG_RUNTIME_DIR: undefined } });
    expect(plain.get('plugins')).toEqual({ value: '(none)', source: 'default' });
    expect(plain.get('controlSocket')).toEqual({ value: `/tmp/unicorn-${process.getuid!()}/PID.sock`, source: 'default' });
    expect((await printConfig(['--no-control-socket', ROUTES], { cwd: project({}) })).get('controlSocket')).toEqual({
      value: '(none)',
      source: '--no-control-socket',
    });
  });

  it('adds --hook plugins from UNICORN_CMD_ARGS and the command line, in that order', async () => {
    const rows = await printConfig(['--hook', './b.js', ROUTES], { cwd: project({}), env: { UNICORN_CMD_ARGS: '--hook ./a.js' } });
    expect(rows.get('hook')).toEqual({ value: './a.js ./b.js', source: 'UNICORN_CMD_ARGS: --hook + --hook' });
  });

  it.each([
    ['unicorn.config.mts', `const workers: number = 6;\nexport default { workers };\n`],
    ['unicorn.config.ts', `const workers: number = 6;\nexport default { workers };\n`],
    ['unicorn.config.mjs', `export default async ({ env }) => ({ workers: Number(env.SIX) });\n`],
    ['unicorn.config.js', `module.exports = { workers: 6 };\n`],
    ['unicorn.config.cjs', `module.exports = () => ({ workers: 6 });\n`],
    ['unicorn.config.json', `{ "workers": 6 }`],
  ])('reads %s (an object, or a function returning one)', async (name, text) => {
    const rows = await printConfig([ROUTES], { cwd: project({ [name]: text }), env: { SIX: '6' } });
    expect(rows.get('workers')).toEqual({ value: '6', source: `${name}: workers` });
  });

  it('takes the first of unicorn.config.{ts,mjs,js,cjs,json}, or the file -c names', async () => {
    const dir = project({
      'unicorn.config.mjs': 'export default { workers: 2 };',
      'unicorn.config.json': '{ "workers": 3 }',
      'other.cjs': 'module.exports = { workers: 4 };',
    });
    expect((await printConfig([ROUTES], { cwd: dir })).get('workers')!.value).toBe('2');
    const rows = await printConfig(['-c', 'other.cjs', ROUTES], { cwd: dir });
    expect(rows.get('workers')).toEqual({ value: '4', source: 'other.cjs: workers' });
    expect(rows.get('config')).toEqual({ value: path.join(dir, 'other.cjs'), source: '--config' });
  });
});

describe('refusals name the source, the value and what is accepted (exit 2, nothing bound)', () => {
  it.each([
    [
      { 'unicorn.config.mjs': 'export default { wrokers: 2 };' },
      [],
      {},
      /^unicorn: error: unicorn\.config\.mjs: unknown key "wrokers" \(did you mean "workers"\?\)/,
    ],
    [
      { 'unicorn.config.mjs': 'export default { onStart() {} };' },
      [],
      {},
      /^unicorn: error: unicorn\.config\.mjs: unknown key "onStart" \(did you mean "onStarting"\?\)/,
    ],
    [
      { 'unicorn.config.json': '{ "workers": "many" }' },
      [],
      {},
      'unicorn: error: unicorn.config.json: workers "many" is not accepted: expected a whole number of at least 1',
    ],
    [
      { 'unicorn.config.json': '{ "workers": [2] }' },
      [],
      {},
      'unicorn: error: unicorn.config.json: workers [2] is not accepted: expected a whole number of at least 1',
    ],
    [
      { 'unicorn.config.json': '{ "bind": [{ "port": 1 }] }' },
      [],
      {},
      /^unicorn: error: unicorn\.config\.json: bind \{"port":1\} is not accepted: expected HOST:PORT, .*, or a list of them$/,
    ],
    [
      { 'unicorn.config.json': '{ "workers": 2, }' },
      [],
      {},
      /^unicorn: error: cannot read the config file unicorn\.config\.json: SyntaxError: /,
    ],
    [
      { 'unicorn.config.json': '[1, 2]' },
      [],
      {},
      'unicorn: error: the config file unicorn.config.json must export an object of settings (or a function returning one); it exports an array',
    ],
    [
      { 'unicorn.config.mjs': 'export default { workers: 2 ' },
      [],
      {},
      /^unicorn: error: cannot read the config file unicorn\.config\.mjs: SyntaxError: /,
    ],
    [
      { 'unicorn.config.mjs': 'export default () => { throw new Error("no secrets"); };' },
      [],
      {},
      'unicorn: error: the config file unicorn.config.mjs exports a function that threw: Error: no secrets',
    ],
    [
      { 'unicorn.config.mjs': 'export default { hook: ["x"] };' },
      [],
      {},
      'unicorn: error: unicorn.config.mjs: hook cannot be set in a config file: the config file lists plugins as `plugins`',
    ],
    [
      { 'unicorn.config.mjs': 'export default { app: 42 };' },
      [],
      {},
      'unicorn: error: unicorn.config.mjs: app 42 is not accepted: expected a string, MODULE or MODULE:EXPORT',
    ],
    [
      { 'unicorn.config.mjs': 'export default { app: "app:1x" };' },
      [],
      {},
      /^unicorn: error: unicorn\.config\.mjs: app "app:1x" is not accepted: "1x" is not a JavaScript identifier/,
    ],
    [
      { 'unicorn.config.mjs': 'export default { preRequest: "yes" };' },
      [ROUTES],
      {},
      'unicorn: error: unicorn.config.mjs: hook preRequest must be a function; it is string "yes"',
    ],
    [
      { 'unicorn.config.mjs': 'export default { plugins: [{ postrequest() {} }] };' },
      [ROUTES],
      {},
      /^unicorn: error: unicorn\.config\.mjs: plugins\[0\]: unknown hook "postrequest" \(did you mean "postRequest"\?\)/,
    ],
    [
      { 'unicorn.config.mjs': 'export default { plugins: [42] };' },
      [ROUTES],
      {},
      'unicorn: error: unicorn.config.mjs: plugins[0] is not accepted: expected a module name, [module, options], a plugin function or an object of hooks; got number 42',
    ],
    [
      {},
      ['--hook', './nowhere.js', ROUTES],
      {},
      /^unicorn: error: cannot load the plugin "\.\/nowhere\.js": not a first-party plugin \(systemd, prometheus, slow-requests\), and not found from /,
    ],
    [
      {},
      ['--hook', 'promethus', ROUTES],
      {},
      /^unicorn: error: cannot load the plugin "promethus" \(did you mean "prometheus"\?\): not a first-party plugin \(systemd, prometheus, slow-requests\), and not found from /,
    ],
    [
      { 'unicorn.config.mjs': 'export default { plugins: ["slow-request"] };' },
      [ROUTES],
      {},
      /^unicorn: error: cannot load the plugin "slow-request" \(did you mean "slow-requests"\?\): not a first-party plugin /,
    ],
    [
      {},
      ['-c', 'missing.mjs', ROUTES],
      {},
      /^unicorn: error: --config "missing.mjs" is not accepted: expected an existing file ending in .*\(no such file: .*missing\.mjs\)$/,
    ],
    [
      { 'gunicorn.conf.py': 'workers = 2' },
      ['-c', 'gunicorn.conf.py', ROUTES],
      {},
      /^unicorn: error: the config file gunicorn\.conf\.py is not accepted: expected a file ending in \.ts, /,
    ],
    [
      {},
      ['--hook-timeout', '0', ROUTES],
      {},
      'unicorn: error: --hook-timeout "0" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds, more than 0 (a hook cannot be given no time)',
    ],
    [{}, [ROUTES], { UNICORN_CMD_ARGS: '--wrokers 2' }, /^unicorn: error: UNICORN_CMD_ARGS: unknown option '--wrokers'/],
    [
      {},
      [ROUTES],
      { UNICORN_CMD_ARGS: '--daemon' },
      /^unicorn: error: UNICORN_CMD_ARGS: --daemon is not a unicorn option: unicorn stays in the foreground; /,
    ],
    [
      { 'unicorn.config.mjs': 'export default { preload: true };' },
      [ROUTES],
      {},
      /^unicorn: error: unicorn\.config\.mjs: preload is not a unicorn setting: workers are forked with node:cluster, /,
    ],
    [
      {},
      [ROUTES],
      { UNICORN_CMD_ARGS: '-w none' },
      'unicorn: error: UNICORN_CMD_ARGS: --workers "none" is not accepted: expected a whole number of at least 1',
    ],
    [
      {},
      [ROUTES],
      { UNICORN_CMD_ARGS: '-w 2 app.js' },
      'unicorn: error: UNICORN_CMD_ARGS "-w 2 app.js" is not accepted: it gives "app.js", but takes flags only; name the app on the command line or in the config file',
    ],
    [
      {},
      [ROUTES],
      { UNICORN_CMD_ARGS: `--timeout '20s` },
      `unicorn: error: UNICORN_CMD_ARGS "--timeout '20s" is not accepted: a ' quote is not closed`,
    ],
  ])('%j %j %j', async (files, args, env, expected) => {
    const { code, lines } = await refusal(args as string[], { cwd: project(files), env });
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
  });
});

describe('--check-config', () => {
  it('loads the config, the plugins and the app, binds nothing, and exits 0', async () => {
    const dir = project({
      'unicorn.config.mjs': `export default { app: ${JSON.stringify(ROUTES)}, workers: 3, plugins: ['./plugin.mjs'], onStarting() {} };`,
      'plugin.mjs': 'export function preRequest() {}',
    });
    const { code, stderr, unicorn } = await runToExit(['--check-config', '-b', '127.0.0.1:1'], { cwd: dir });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(unicorn.stdout).toBe(
      `Configuration OK: app ${ROUTES} (node handler), 3 sync workers, config file unicorn.config.mjs, plugins: plugin "./plugin.mjs" (unicorn.config.mjs: plugins[0]), unicorn.config.mjs\n`,
    );
  });

  it('takes a first-party plugin imported in an ES-module config, and a plugin function', async () => {
    const slow = JSON.stringify(path.join(ROOT, 'dist', 'hooks', 'slow-requests.js'));
    const dir = project({
      'unicorn.config.mjs': `import slowRequests from ${slow};\nexport default { app: ${JSON.stringify(ROUTES)}, plugins: [slowRequests, () => ({ onStarting() {} })] };`,
    });
    const { code, stderr, unicorn } = await runToExit(['--check-config'], { cwd: dir });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(unicorn.stdout).toContain('plugins: unicorn.config.mjs: plugins[0], unicorn.config.mjs: plugins[1]\n');
  });

  it.each([
    [
      ['--check-config', path.join(APPS, 'syntax-error.js')],
      /^unicorn: error: cannot load the app ".*syntax-error\.js": importing .* failed: SyntaxError: /,
    ],
    [
      ['--check-config', '--hook', './broken-plugin.mjs', ROUTES],
      /^unicorn: error: cannot load the plugin "\.\/broken-plugin\.mjs": importing .* failed: Error: plugin exploded$/,
    ],
    // As a start refuses it (exit 4): an app that listens itself while it loads.
    [
      ['--check-config', '-b', '127.0.0.1:8123', path.join(APPS, 'listens.js')],
      /^unicorn: error: cannot load the app ".*listens\.js": importing .* failed: Error: the app called listen\(0\) itself; unicorn listens for it \(at http:\/\/127\.0\.0\.1:8123\)/,
    ],
    [
      ['--check-config', path.join(APPS, 'listens.mjs')],
      /^unicorn: error: cannot load the app ".*listens\.mjs": importing .* failed: Error: the app called listen\(.*import\.meta/,
    ],
  ])('exits 2 naming the problem: %j', async (args, expected) => {
    const { code, lines } = await refusal(args, { cwd: project({ 'broken-plugin.mjs': 'throw new Error("plugin exploded");' }) });
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
  });
});

describe('a TypeScript config typed by defineConfig', () => {
  it('serves with the settings it gives', async () => {
    const unicorn = start([], { cwd: path.join(FIXTURES, 'typed') });
    await unicorn.waitForLog((l) => l.msg === 'typed config: ready', 'whenReady from the config');
    const rows = unicorn.lines('Worker serving');
    expect(rows).toHaveLength(2);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    expect(unicorn.lines('Using worker: async')).toHaveLength(1);
  });

  it('makes a misspelt key, a bad value and a bad use of a hook argument type errors', () => {
    const file = (name: string) => path.join(FIXTURES, 'typed', name);
    const errors = typeErrors([file('unicorn.config.mts'), file('mistyped.ts')], path.join(FIXTURES, 'typed'), { skipLibCheck: true });
    expect(errors).toEqual([
      expect.stringMatching(/^mistyped\.ts: Object literal may only specify known properties, and 'wrokers' does not exist/),
      expect.stringMatching(/^mistyped\.ts: Type '"gevent"' is not assignable to type 'WorkerClass/),
      expect.stringMatching(/^mistyped\.ts: Type 'true' is not assignable to type 'string \| number/),
      expect.stringMatching(/^mistyped\.ts: Property 'nope' does not exist on type 'ArbiterView'/),
    ]);
  }, 60_000);
});

describe('HUP reads the config file again', () => {
  let unicorn: Unicorn;
  const liveWorkers = (u: Unicorn, n: number) => u.waitForLog(() => u.workerPids().length === n, `${n} live workers`);

  it('applies a changed file, and refuses a broken one keeping the server as it was', async () => {
    const dir = project({ 'unicorn.config.mjs': 'export default { workers: 1, timeout: 30 };' });
    const file = path.join(dir, 'unicorn.config.mjs');
    unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
    await unicorn.ready(1);

    writeFileSync(file, 'export default { workers: 2, timeout: 30 };');
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete: 2 new workers ready'), 'the reload with 2 workers');
    await liveWorkers(unicorn, 2);

    writeFileSync(file, 'export default { workers: 2, timeout: "soon" };');
    unicorn.signal('SIGHUP');
    const refused = await unicorn.waitForLog((l) => l.msg.startsWith('Reload refused'), 'the refusal');
    expect(refused.msg).toBe(
      'Reload refused: unicorn.config.mjs: timeout "soon" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds; the running configuration is kept',
    );
    writeFileSync(file, 'export default { workers: 2, timeout: 30, preRequest: 42 };');
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload refused: unicorn.config.mjs: hook preRequest'), 'the refused hook');

    expect(unicorn.lines('Reloading')).toHaveLength(1);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    expect(unicorn.workerPids()).toHaveLength(2);
  });

  it('keeps a worker count TTIN set while the file was being read', async () => {
    const dir = project({
      // Reading takes a second once the file "slow" exists: long enough to send TTIN meanwhile.
      'unicorn.config.mjs': `import { existsSync } from 'node:fs';
        export default async () => {
          if (existsSync(new URL('./slow', import.meta.url))) await new Promise((resolve) => setTimeout(resolve, 1000));
          return { workers: 2 };
        };`,
    });
    unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
    await unicorn.ready(2);
    writeFileSync(path.join(dir, 'slow'), '');
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg === 'Handling signal: hup', 'HUP');
    unicorn.signal('SIGTTIN');
    await unicorn.waitForLog((l) => l.msg === 'Number of workers: 3 (was 2)', 'TTIN');
    const reloading = await unicorn.waitForLog((l) => l.msg.startsWith('Reloading:'), 'the reload');
    expect(reloading.msg).toBe('Reloading: starting 3 new workers; the current ones serve until all are ready');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    await liveWorkers(unicorn, 3);
  });

  it('and only then: a worker respawned after a crash imports the file as last read, even if it is broken now', async () => {
    const version = (v: number) => `export default { workers: 1, postWorkerInit: (worker) => worker.log.info('config v${v}') };`;
    const dir = project({ 'unicorn.config.mjs': version(1) });
    const file = path.join(dir, 'unicorn.config.mjs');
    unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
    await unicorn.ready(1);
    const crashAndRespawn = async (loaded: number) => {
      const [pid] = unicorn.workerPids();
      process.kill(pid!, 'SIGKILL');
      await unicorn.waitForLog(() => unicorn.lines('config v1').length === loaded, `a respawned worker (${loaded} loads of v1)`);
      await liveWorkers(unicorn, 1);
      expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    };

    // The last worker crashing while the file on disk does not load: its replacement boots.
    writeFileSync(file, 'export default { workers: 1, ');
    await crashAndRespawn(2);
    // An edit that loads is not applied by a respawn either: it waits for HUP, as the arbiter does.
    writeFileSync(file, version(2));
    await crashAndRespawn(3);
    expect(unicorn.lines('config v2')).toEqual([]);
    expect(unicorn.bootFailures()).toEqual([]);

    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    expect(unicorn.lines('config v2')).toHaveLength(1);
  });
});

describe('workers import the config file as the arbiter read it', () => {
  let unicorn: Unicorn;
  const liveWorkers = (u: Unicorn, n: number) => u.waitForLog(() => u.workerPids().length === n, `${n} live workers`);
  const crashAndRespawn = async (u: Unicorn, loaded: number) => {
    const [pid] = u.workerPids();
    process.kill(pid!, 'SIGKILL');
    await u.waitForLog(() => u.lines('config loaded').length === loaded, `a respawned worker (${loaded} loads)`);
    await liveWorkers(u, 1);
    expect((await request(`${u.url()}/`)).status).toBe(200);
  };

  it.each(['mjs', 'cjs'])('through a symlink (.%s), with imports beside the file it links to', async (ext) => {
    const shared = project(
      ext === 'mjs'
        ? {
            'unicorn.config.mjs': `import { word } from './word.mjs';\nexport default { workers: 1, postWorkerInit: (worker) => worker.log.info('config loaded: ' + word) };`,
            'word.mjs': `export const word = 'shared';`,
          }
        : {
            'unicorn.config.cjs': `const { word } = require('./word.cjs');\nmodule.exports = { workers: 1, postWorkerInit: (worker) => worker.log.info('config loaded: ' + word) };`,
            'word.cjs': `exports.word = 'shared';`,
          },
    );
    const dir = project({});
    symlinkSync(path.join(shared, `unicorn.config.${ext}`), path.join(dir, `unicorn.config.${ext}`));
    unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
    await unicorn.ready(1);
    expect(unicorn.lines('config loaded')[0]!.msg).toBe('config loaded: shared');
    await crashAndRespawn(unicorn, 2);
    // HUP reads the edited file, not a CommonJS module cached under the name it links to.
    const real = path.join(shared, `unicorn.config.${ext}`);
    writeFileSync(
      real,
      readFileSync(real, 'utf8').replace('workers: 1', 'workers: 2').replace("'config loaded: '", "'config loaded again: '"),
    );
    unicorn.signal('SIGHUP');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload');
    expect(unicorn.lines('Reload complete')[0]!.msg).toMatch(/^Reload complete: 2 new workers ready/);
    expect(unicorn.lines('config loaded again: shared')).toHaveLength(2);
  });

  it.each(['mjs', 'cjs', 'ts'])('after the file is gone from disk (.%s): a crashed worker still comes back', async (ext) => {
    const text =
      ext === 'cjs'
        ? `module.exports = { workers: 1, postWorkerInit: (worker) => worker.log.info('config loaded') };`
        : `export default { workers: 1 as number, postWorkerInit: (worker: { log: { info(m: string): void } }) => worker.log.info('config loaded') };`.replace(
            / as number|: \{ log: \{ info\(m: string\): void \} \}/g,
            ext === 'ts' ? '$&' : '',
          );
    const dir = project({ [`unicorn.config.${ext}`]: text });
    unicorn = start(['-b', '127.0.0.1:0', ROUTES], { cwd: dir });
    await unicorn.ready(1);
    renameSync(path.join(dir, `unicorn.config.${ext}`), path.join(dir, `moved.${ext}`));
    await crashAndRespawn(unicorn, 2);
    expect(unicorn.bootFailures()).toEqual([]);
  });
});

describe('examples/unicorn.config.mjs', () => {
  it('passes --check-config', async () => {
    const { code, stderr, unicorn } = await runToExit(['--check-config'], { cwd: path.join(ROOT, 'examples') });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(unicorn.stdout).toMatch(
      /^Configuration OK: app hello\.js \(node handler\), 2 sync workers, config file unicorn\.config\.mjs, plugins: plugin "slow-requests" \(unicorn\.config\.mjs: plugins\[0\]\), unicorn\.config\.mjs\n$/,
    );
  });
});
