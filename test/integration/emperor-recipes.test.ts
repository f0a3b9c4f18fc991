/**
 * The emperor's recipes in examples/deploy (docs/deploy.md): emperor.nginx.conf run for real by
 * nginx in front of a real `unicorn emperor`, and emperor.service checked as deploy-recipes.test.ts
 * checks the other units (`systemd-analyze verify` where installed; its command line read by
 * `unicorn emperor --check`; its numbers against the emperor's).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDuration } from '../../src/config/duration';
import { splitArgs } from '../../src/config/split-args';
import { aboutVassal, startEmperor, type VassalDir, vassalDir, waitForAnswer } from '../helpers/emperor';
import { request } from '../helpers/http';
import { findNginx, type Nginx, startNginx } from '../helpers/nginx';
import { exchange, responses } from '../helpers/raw';
import { BIN, ROOT, type Unicorn } from '../helpers/unicorn';

const RECIPES = path.join(ROOT, 'examples', 'deploy');
const recipe = (name: string) => readFileSync(path.join(RECIPES, name), 'utf8');

/** `text` with `from` replaced, which must occur exactly once: a recipe that changed shape fails
 *  the test rather than being tested as something else. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`expected ${JSON.stringify(from)} exactly once in:\n${text}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const UNAVAILABLE = 'This app is not available now.\n';

const nginx = findNginx();
const nginxRequired = process.env.UNICORN_TEST_NGINX === 'required';
if (!nginx && !nginxRequired) {
  process.stderr.write(
    `emperor-recipes.test.ts: nginx tests skipped: ${process.env.UNICORN_TEST_NGINX ?? 'nginx is not installed (apt-get install nginx)'}\n`,
  );
}

(nginx || nginxRequired ? describe : describe.skip)('emperor.nginx.conf in front of `unicorn emperor`', () => {
  let vassals: VassalDir;
  let emperor: Unicorn;
  let proxy: Nginx;

  /** Ask through nginx as host NAME.apps.example.com: the status and what answered. */
  const ask = async (name: string) => {
    const reply = await request(`${proxy.url}/`, { headers: { host: `${name}.apps.example.com` }, timeoutMs: 20_000 });
    return { status: reply.status, body: reply.body };
  };
  const answer = (name: string) => ({ status: 200, body: expect.stringMatching(new RegExp(`^${name} \\d+\\n$`)) });
  const started = (name: string) => emperor.lines(`Vassal ${name} started`).filter(aboutVassal(name)).length;
  const leftIdle = (name: string) => emperor.lines(`Vassal ${name} left while idle`).filter(aboutVassal(name)).length;

  beforeEach(async () => {
    if (!nginx) throw new Error('nginx is not installed, and UNICORN_TEST_NGINX=required (.ci/run installs it)');
    vassals = vassalDir();
    vassals.write('a', { onDemand: true, idleTimeout: '1s' });
    vassals.write('b', { onDemand: true, idleTimeout: '1s' });
    vassals.write('c');
    emperor = startEmperor(vassals.dir);
    await waitForAnswer(vassals.socket('c'));
    await emperor.waitForLog((l) => aboutVassal('b')(l) && l.msg.includes('waits for its first connection'), 'b held');
    await emperor.waitForLog((l) => aboutVassal('a')(l) && l.msg.includes('waits for its first connection'), 'a held');
    // The recipe as it is, but for the port and the apps' sockets' directory.
    proxy = await startNginx(nginx, (port) => {
      let conf = recipe('emperor.nginx.conf');
      conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${port};`);
      return replaceOnce(
        conf,
        'proxy_pass http://unix:/run/unicorn-apps/$app.sock:;',
        `proxy_pass http://unix:${vassals.sockets}/$app.sock:;`,
      );
    });
  });
  afterEach(() => rmSync(path.dirname(vassals.dir), { recursive: true, force: true }));

  it('routes each host name to its app, starting an on-demand app on its first request and again after it left while idle', async () => {
    expect(await ask('c')).toEqual(answer('c'));
    expect(started('a')).toBe(0);
    expect(await ask('a')).toEqual(answer('a'));
    expect(started('a')).toBe(1);
    expect(await ask('b')).toEqual(answer('b'));
    expect(await ask('a')).toEqual(answer('a'));
    expect(started('b')).toBe(1);

    // Quiet: a leaves (b too), and the next request through nginx starts it again.
    await emperor.waitForLog(() => leftIdle('a') === 1, 'a left while idle');
    expect(await ask('a')).toEqual(answer('a'));
    expect(started('a')).toBe(2);
    expect(proxy.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it('loses no request while a load alternates between two on-demand apps, each leaving while idle and starting again', async () => {
    let host = 'a';
    let running = true;
    const failures: string[] = [];
    let served = 0;
    const loop = async () => {
      while (running) {
        const name = host;
        try {
          const reply = await ask(name);
          if (reply.status === 200 && reply.body.startsWith(`${name} `)) served++;
          else failures.push(`${name}: ${reply.status} ${reply.body}`);
        } catch (err) {
          failures.push(`${name}: ${(err as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    expect(await ask('b')).toEqual(answer('b'));
    const loops = [loop(), loop()];
    try {
      // The load moves to the other app once that one has left while idle: each switch wakes an app.
      for (let round = 1; round <= 1; round++) {
        await emperor.waitForLog(() => leftIdle('b') === round, `b left while idle (${round})`);
        host = 'b';
        await emperor.waitForLog(() => leftIdle('a') === round, `a left while idle (${round})`);
        host = 'a';
      }
      await emperor.waitForLog(() => started('a') === 2, 'a started again');
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(20);
    expect(started('b')).toBe(2);

    // A request sent the moment the app decides to leave while idle is answered: by the next start, as a rule (it
    // crossed the exit), or by the leaving vassal's worker if it came before that worker stopped accepting.
    const leaving = () => emperor.lines('Idle: leaving').filter((l) => l.role === 'arbiter' && l.vassal === 'a').length;
    for (let i = 1; i <= 3; i++) {
      const before = leaving();
      await emperor.waitForLog(() => leaving() > before, `a leaving while idle (${i})`);
      expect(await ask('a')).toEqual(answer('a'));
      // Whichever served it, the next round needs a vassal running to leave: once this one has gone, a request starts one.
      await emperor.waitForLog(() => leftIdle('a') >= leaving(), `a gone (${i})`);
      expect(await ask('a')).toEqual(answer('a'));
    }
    expect(proxy.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it('answers 404 for a host that is not an app’s, never lets a Host header pick a path, and 503 for an app not running', async () => {
    expect((await request(`${proxy.url}/`, { headers: { host: 'www.example.com' } })).status).toBe(404);
    expect((await request(`${proxy.url}/`, { headers: { host: 'apps.example.com' } })).status).toBe(404);
    expect((await request(`${proxy.url}/`, { headers: { host: 'a.b.apps.example.com' } })).status).toBe(404);

    // A socket outside the apps' directory, which a name with `../` or `/` in it would reach.
    const outside = path.join(path.dirname(vassals.sockets), 'etc.sock');
    vassals.write('etc', { bind: `unix:${outside}` });
    await emperor.waitForLog(() => started('etc') === 1, 'etc started');
    for (const host of [
      '../etc.apps.example.com',
      '..%2fetc.apps.example.com',
      '..\\etc.apps.example.com',
      'x/../../etc.apps.example.com',
    ]) {
      // Raw, as a client need not check its Host header; in the request line too, which nginx prefers.
      for (const head of [`GET / HTTP/1.1\r\nHost: ${host}\r\n`, `GET http://${host}/ HTTP/1.1\r\nHost: a.apps.example.com\r\n`]) {
        const [reply] = responses((await exchange(proxy.url, `${head}Connection: close\r\n\r\n`)).reply);
        expect({ host, status: reply?.status, body: reply?.body }).toEqual({
          host,
          status: expect.any(Number),
          body: expect.not.stringContaining('etc '),
        });
        expect([400, 404]).toContain(reply?.status);
      }
    }

    // No such vassal: no socket. A file refused: put aside, and no socket either.
    expect(await ask('ghost')).toEqual({ status: 503, body: UNAVAILABLE });
    vassals.write('broken', { workers: 'many' });
    await emperor.waitForLog((l) => aboutVassal('broken')(l) && /put aside/i.test(l.msg), 'broken put aside');
    expect(await ask('broken')).toEqual({ status: 503, body: UNAVAILABLE });
  });

  it('answers 503 for an on-demand app whose app fails to start, and once it is put aside', async () => {
    writeFileSync(path.join(vassals.dir, 'crash.js'), "throw new Error('this app does not load');\n");
    vassals.write('crash', { onDemand: true, idleTimeout: '1s', app: 'crash.js' });
    await emperor.waitForLog((l) => aboutVassal('crash')(l) && l.msg.includes('waits for its first connection'), 'crash held');
    // The connection the emperor handed to the vassal closes with it: nginx's 502, the page.
    expect(await ask('crash')).toEqual({ status: 503, body: UNAVAILABLE });
    await emperor.waitForLog((l) => aboutVassal('crash')(l) && l.msg.startsWith('Vassal crash is put aside'), 'crash put aside');
    expect(await ask('crash')).toEqual({ status: 503, body: UNAVAILABLE });
  });
});

const SERVICE = 'emperor.service';
/** emperor.service's `Key=value` lines: every value of a key, in order. */
function unitKeys(): (key: string) => string[] {
  const keys = new Map<string, string[]>();
  for (const [, key, value] of recipe(SERVICE).matchAll(/^(\w+)=(.*)$/gm)) keys.set(key!, [...(keys.get(key!) ?? []), value!]);
  return (key) => keys.get(key) ?? [];
}

describe('emperor.service', () => {
  const service = unitKeys();
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'unicorn-emperor-unit-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('its ExecStart, as `unicorn emperor --check` reads it, serves the apps where nginx looks, and stops within TimeoutStopSec', () => {
    const runtime = service('RuntimeDirectory')[0]!
      .split(/\s+/)
      .map((name) => `/run/${name}`);
    // The recipe's directories, made under a temporary root (systemd makes the RuntimeDirectory; the apps dir is the operator's).
    const [unicorn, ...args] = splitArgs(service('ExecStart')[0]!);
    const within = (p: string) => path.join(root, p);
    const appsDir = args[1]!;
    for (const dir of [...runtime, appsDir]) mkdirSync(within(dir), { recursive: true });
    const nginxConf = recipe('emperor.nginx.conf');
    const socketsDir = /proxy_pass http:\/\/unix:(\/\S+)\/\$app\.sock:;/.exec(nginxConf)![1]!;
    // A vassal file as the nginx recipe's comment says: binds NAME's socket in the apps' sockets directory.
    writeFileSync(within(`${appsDir}/site.config.json`), JSON.stringify({ bind: `unix:${within(socketsDir)}/%n.sock`, app: 'app.js' }));
    writeFileSync(within(`${appsDir}/app.js`), 'module.exports = (req, res) => res.end();\n');

    expect(args[0]).toBe('emperor');
    const checked = spawnSync(
      process.execPath,
      [BIN, 'emperor', '--check', ...args.slice(1).map((arg) => (arg.startsWith('/') ? within(arg) : arg))],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
      },
    );
    expect({ status: checked.status, stderr: checked.stderr }).toEqual({ status: 0, stderr: '' });
    const lines = checked.stdout.trim().split('\n');
    const control = /^control socket\s+(\S+)$/m.exec(checked.stdout)?.[1];
    expect(control && path.dirname(control)).toBe(within(runtime[0]!));
    expect(lines).toContain(`site  unix:${within(`${socketsDir}/site.sock`)}  always  graceful 30s`);
    // The apps' sockets are in a RuntimeDirectory too: made before the emperor starts, gone after it stops.
    expect(runtime).toContain(socketsDir);

    // TERM reaches the emperor only; it waits for each vassal's graceful stop and 10 s more before it
    // KILLs one (docs/emperor.md): systemd's KILL must come after that, not cut it short.
    expect(service('KillMode')).toEqual(['mixed']);
    const graceful = parseDuration(/ graceful (\S+)$/m.exec(checked.stdout)![1]!)!;
    expect(Number(service('TimeoutStopSec')[0]) * 1000).toBeGreaterThan(graceful + 10_000);
    expect(splitArgs(service('ExecReload')[0]!)).toEqual(['/bin/kill', '-HUP', '$MAINPID']);
    expect(unicorn).toMatch(/\/unicorn$/);
  });

  it('`unicorn emperor --check` names each refused file and why, and exits 2', () => {
    writeFileSync(path.join(root, 'good.config.json'), JSON.stringify({ bind: 'unix:/run/x/%n.sock', app: 'app.js', onDemand: true }));
    writeFileSync(path.join(root, 'app.js'), 'module.exports = (req, res) => res.end();\n');
    writeFileSync(path.join(root, 'broken.config.json'), JSON.stringify({ bind: 'unix:/run/x/%n.sock', app: 'app.js', workers: 'many' }));
    const checked = spawnSync(process.execPath, [BIN, 'emperor', '--check', root], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(checked.status).toBe(2);
    expect(checked.stdout).toMatch(/^broken {2}refused: .*broken\.config\.json: workers "many" is not accepted/m);
    expect(checked.stdout).toMatch(/^good {2}unix:\/run\/x\/good\.sock {2}on-demand {2}graceful 30s$/m);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']);
  if (analyze.status !== 0) process.stderr.write('emperor-recipes.test.ts: systemd-analyze is not installed: the unit is not verified\n');
  (analyze.status === 0 ? it : it.skip)('passes `systemd-analyze verify` (its command pointed at this checkout)', () => {
    writeFileSync(
      path.join(root, SERVICE),
      replaceOnce(recipe(SERVICE), 'ExecStart=/opt/unicorn/node_modules/.bin/unicorn', `ExecStart=${BIN}`),
    );
    const verify = spawnSync('systemd-analyze', ['verify', path.join(root, SERVICE)], { encoding: 'utf8' });
    // It exits 0 even for an unknown key or value, which it prints: printing nothing is the pass.
    expect({ status: verify.status, stderr: verify.stderr, stdout: verify.stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
  });
});
