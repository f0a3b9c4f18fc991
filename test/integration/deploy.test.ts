/**
 * The deployment recipes of examples/deploy (docs/deploy.md), run for real where this machine
 * allows: the Procfile under a Procfile runner from npm, nginx in front over a unix socket, and
 * unicorn as PID 1, as in a container. The static checks of every recipe (systemd units,
 * Dockerfile, Kubernetes manifests) are in ./deploy-recipes.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inFlight, request } from '../helpers/http';
import { Load } from '../helpers/load';
import { findNginx, freePort, startNginx } from '../helpers/nginx';
import { APPS, BIN, childPids, ROOT, start, Unicorn, waitUntilGone } from '../helpers/unicorn';

const RECIPES = path.join(ROOT, 'examples', 'deploy');
const ROUTES = path.join(APPS, 'routes.js');

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'unicorn-deploy-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `text` with `from` replaced, which must occur exactly once: a recipe that changed shape fails
 *  the test rather than being tested as something else. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`expected ${JSON.stringify(from)} exactly once in:\n${text}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

describe('the Procfile, run by nf (@heroku/foreman)', () => {
  const NF = require.resolve('@heroku/foreman/nf.js');

  it('serves on the PORT the runner gives with WEB_CONCURRENCY workers, and the runner’s TERM stops it gracefully', async () => {
    const procfile = readFileSync(path.join(RECIPES, 'Procfile'), 'utf8');
    const web = /^web: (exec unicorn .*)$/m.exec(procfile)?.[1];
    expect(web).toBeDefined();
    // Loopback only: the line as it is would listen on 0.0.0.0:$PORT. $PORT is still the runner's,
    // expanded by the shell that runs the line; and the `config` process shows, without binding,
    // that the line as it is listens on the runner's PORT by unicorn's own default.
    writeFileSync(
      path.join(dir, 'Procfile'),
      replaceOnce(procfile, 'web: exec unicorn ', 'web: exec unicorn --bind 127.0.0.1:$PORT ') +
        `config: ${replaceOnce(web!, 'exec unicorn ', 'exec unicorn --print-config ')}\n`,
    );
    writeFileSync(path.join(dir, '.env'), 'WEB_CONCURRENCY=3\n');
    copyFileSync(ROUTES, path.join(dir, 'app.js'));

    let port = await freePort();
    while (port + 100 > 65535) port = await freePort(); // nf gives the second process type PORT + 100
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // `unicorn` on PATH, as node_modules/.bin puts it; the node running the tests first.
      PATH: [path.join(ROOT, 'bin'), path.dirname(process.execPath), process.env.PATH].join(path.delimiter),
    };
    for (const name of ['PORT', 'WEB_CONCURRENCY', 'UNICORN_CMD_ARGS', 'NOTIFY_SOCKET']) delete env[name];
    // nf prints its processes' output on stdout, --raw as they wrote it: sent to stderr, where the
    // helper reads unicorn's JSON log lines. Killed by pid at the end like any unicorn (cleanup.ts).
    const runner = new Unicorn(
      spawn(
        '/bin/sh',
        ['-c', 'exec "$0" "$@" 1>&2', process.execPath, NF, 'start', '--raw', '-j', 'Procfile', '-e', '.env', '-p', String(port)],
        {
          cwd: dir,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );

    await runner.ready(3);
    expect(runner.addresses()).toEqual([`http://127.0.0.1:${port}`]);
    expect(runner.lines('Booting worker')).toHaveLength(3);
    await runner.waitForLog(() => /^bind\s/m.test(runner.stderr), 'the config process’s --print-config');
    expect(runner.stderr).toMatch(new RegExp(`^bind\\s+http://0\\.0\\.0\\.0:${port + 100}\\s+PORT$`, 'm'));
    expect(runner.stderr).toMatch(/^workers\s+3\s+WEB_CONCURRENCY$/m);
    expect((await request(`http://127.0.0.1:${port}/`)).status).toBe(200);

    const arbiter = runner.logs.find((l) => l.msg.startsWith('Starting unicorn'))!.pid;
    const pids = [arbiter, ...childPids(arbiter)];
    expect(pids).toHaveLength(4);
    const held = inFlight(`http://127.0.0.1:${port}/hold?ms=1000`);
    await held.handling;
    runner.signal('SIGTERM');
    // A graceful stop: the request in flight is answered in full. (nf exits at once, so unicorn's
    // last log lines go to a closed pipe; it does not mind.)
    expect(await held.reply).toMatchObject({ status: 200, body: expect.stringMatching(/^held \d+\n$/) });
    expect(await waitUntilGone([runner.pid, ...pids], 15_000)).toEqual([]);
    expect(runner.stderr).toMatch(/Received SIGTERM/);
  });
});

const nginx = findNginx();
const nginxRequired = process.env.UNICORN_TEST_NGINX === 'required';
if (!nginx && !nginxRequired) {
  process.stderr.write(
    `deploy.test.ts: nginx tests skipped: ${process.env.UNICORN_TEST_NGINX ?? 'nginx is not installed (apt-get install nginx)'}\n`,
  );
}

(nginx || nginxRequired ? describe : describe.skip)('nginx in front, over a unix socket (examples/deploy/nginx.conf)', () => {
  /** The recipe's nginx.conf, pointed at our socket, port and static files. */
  const site = (sock: string) => (port: number) => {
    let conf = readFileSync(path.join(RECIPES, 'nginx.conf'), 'utf8');
    conf = replaceOnce(conf, 'server unix:/run/app.sock', `server unix:${sock}`);
    conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${port};`);
    return replaceOnce(conf, 'root /srv/app/public;', `root ${dir}/public;`);
  };

  async function serveBehindNginx() {
    if (!nginx) throw new Error(`nginx is not installed, and UNICORN_TEST_NGINX=required (.ci/run installs it)`);
    const sock = path.join(dir, 'app.sock');
    // The recipe's command line: async workers on the socket nginx proxies to.
    const unicorn = start(['--worker-class', 'async', '-w', '2', '-b', `unix:${sock}`, ROUTES]);
    await unicorn.ready(2);
    return { unicorn, proxy: await startNginx(nginx, site(sock)) };
  }

  it('passes requests through: static files from nginx, the rest to unicorn with the forwarded headers, on kept-alive connections', async () => {
    mkdirSync(path.join(dir, 'public'));
    writeFileSync(path.join(dir, 'public', 'robots.txt'), 'User-agent: *\n');
    const { unicorn, proxy } = await serveBehindNginx();

    expect(await request(`${proxy.url}/robots.txt`)).toMatchObject({ status: 200, body: 'User-agent: *\n' });
    const reply = await request(`${proxy.url}/echo?q=1`, {
      method: 'POST',
      headers: { host: 'app.example', 'content-type': 'text/plain' },
      body: 'sent',
    });
    expect(reply.status).toBe(200);
    const seen = JSON.parse(reply.body);
    expect(seen).toMatchObject({ method: 'POST', url: '/echo?q=1', body: 'sent' });
    expect(seen.headers).toMatchObject({
      host: 'app.example',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'content-length': '4',
    });
    expect(unicorn.workerPids()).toContain(seen.pid);
    // nginx keeps its connections to the async workers open (keepalive in the upstream).
    let reused = 0;
    for (let i = 0; i < 10; i++) reused = Math.max(reused, JSON.parse((await request(`${proxy.url}/echo`)).body).requestsOnConnection);
    expect(reused).toBeGreaterThan(1);
  });

  it('HUP under load through nginx: no 502 and no failed request; with unicorn gone, nginx answers 502', async () => {
    const { unicorn, proxy } = await serveBehindNginx();
    const load = await Load.start(`${proxy.url}/slow?ms=5`, { keepAlive: true, concurrency: 4 });
    await load.flowing();
    for (let i = 1; i <= 3; i++) {
      unicorn.signal('SIGHUP');
      await unicorn.waitForLog(() => unicorn.lines('Reload complete').length === i, `reload ${i}`);
      await load.flowing(30);
    }
    const counts = await load.stop();
    expect(counts).toMatchObject({ failed: 0, refused: 0, errors: {} });
    expect(counts.ok).toBeGreaterThan(150);
    expect(proxy.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);

    // The zero above is unicorn's doing: once it has stopped (and removed its socket), nginx answers 502.
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect((await request(`${proxy.url}/`)).status).toBe(502);
  });
});

/** Children of `pid` that are zombies, each as its pid inside its PID namespace (NSpid's last). */
function zombieChildren(pid: number): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (!/^State:\s+Z/m.test(status) || !new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) continue;
      zombies.push(Number(/^NSpid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/).pop()));
    } catch {
      // It ended while we looked.
    }
  }
  return zombies;
}

/** unicorn started by unshare(1) as PID 1 of a new PID namespace. Its log names pids inside the
 *  namespace, which mean other processes out here: cleanup kills the process tree found in /proc. */
class InNamespace extends Unicorn {
  override allPids(): number[] {
    const pids = [this.pid];
    for (let i = 0; i < pids.length; i++) pids.push(...childPids(pids[i]!));
    return pids;
  }
}

/** unshare's options for a new PID namespace, or why none can be made here. */
function pidNamespace(): string[] | string {
  const options = process.getuid?.() === 0 ? ['--pid'] : ['--user', '--map-root-user', '--pid'];
  const probe = spawnSync('unshare', [...options, '--fork', '--mount-proc', 'true'], { encoding: 'utf8' });
  if (probe.status === 0) return options;
  return `unshare cannot make a PID namespace here: ${(probe.error?.message ?? probe.stderr).trim()}`;
}

const namespace = pidNamespace();
if (typeof namespace === 'string') process.stderr.write(`deploy.test.ts: PID 1 test skipped: ${namespace}\n`);

(typeof namespace === 'string' ? describe.skip : describe)('unicorn as PID 1, as in a container without an init', () => {
  it('stops gracefully on TERM, reaps its own workers, but leaves the orphans an app makes as zombies (why the Dockerfile runs tini)', async () => {
    const unicorn = new InNamespace(
      spawn(
        'unshare',
        [
          ...(namespace as string[]),
          '--fork',
          '--kill-child',
          '--mount-proc',
          process.execPath,
          BIN,
          '-b',
          '127.0.0.1:0',
          '-w',
          '2',
          ROUTES,
        ],
        {
          cwd: ROOT,
          env: { ...process.env, UNICORN_LOG_LEVEL: 'debug' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    await unicorn.ready(2);
    expect(unicorn.logs.find((l) => l.msg.startsWith('Starting unicorn'))!.pid).toBe(1);
    const [init] = childPids(unicorn.pid); // the arbiter, PID 1 inside, as seen from out here
    const url = unicorn.url();

    // A shell in the app starts a background process and exits: the orphan's parent becomes PID 1,
    // and once it exits nobody waits for it.
    const orphan = Number((await request(`${url}/orphan`)).body);
    expect(orphan).toBeGreaterThan(1);
    const deadline = Date.now() + 10_000;
    while (!zombieChildren(init!).includes(orphan) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(zombieChildren(init!)).toContain(orphan);

    // Its own workers it does wait for: one killed is reaped and replaced. The orphan stays a zombie.
    const [worker] = childPids(init!);
    process.kill(worker!, 'SIGKILL');
    await unicorn.ready(3);
    expect(existsSync(`/proc/${worker}`)).toBe(false); // reaped: a zombie would still be listed
    expect(zombieChildren(init!)).toEqual([orphan]);

    // TERM reaches PID 1 (it handles the signal; an unhandled one would be ignored) and stops it gracefully.
    const held = inFlight(`${url}/hold?ms=800`);
    await held.handling;
    process.kill(init!, 'SIGTERM');
    expect(await held.reply).toMatchObject({ status: 200, body: expect.stringMatching(/^held \d+\n$/) });
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(unicorn.lines('Shutting down: Master')).toEqual([expect.objectContaining({ pid: 1 })]);
  });
});
