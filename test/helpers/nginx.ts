/**
 * nginx from the machine's packages, started by a test as a child process in the foreground (not a
 * daemon), with its prefix, configuration, pid file, temporary files and error log in a temporary
 * directory, listening on a free loopback port. Every nginx started here is killed by pid after
 * each test, pass or fail (see ./cleanup.ts), its master and its workers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { childPids } from './unicorn';

/** Where Debian and source builds put nginx: /usr/sbin is not on every PATH (CI's is /usr/bin:/bin). */
const PLACES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary, or undefined when none is installed. */
export function findNginx(): string | undefined {
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, 'nginx'));
  return [...onPath, ...PLACES].find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const running = new Set<Nginx>();

export class Nginx {
  readonly url: string;
  readonly exited: Promise<number | null>;

  constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    running.add(this);
    this.url = `http://127.0.0.1:${port}`;
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }

  /** What nginx logged: the reason for a failure, or upstream errors (at `notice` and above). */
  errorLog(): string {
    try {
      return readFileSync(path.join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** The master and its workers, killed by pid; the temporary directory removed. The master is
   *  stopped first: it forks a new worker for every one that dies, and a worker forked between
   *  the kills would be left running. */
  async kill(): Promise<void> {
    const signal = (pid: number, name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // Already gone.
      }
    };
    signal(this.proc.pid!, 'SIGSTOP');
    for (const pid of childPids(this.proc.pid!)) signal(pid, 'SIGKILL');
    signal(this.proc.pid!, 'SIGKILL');
    await this.exited;
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A loopback port nothing listens on now, for a program that cannot listen on port 0 and say
 *  which port it got (nginx, a Procfile runner). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts on the port, or rejects when `gone` settles first. */
async function accepting(port: number, gone: Promise<unknown>, timeoutMs: number): Promise<void> {
  let exited = false;
  void gone.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!exited && Date.now() < deadline) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(exited ? 'nginx exited' : `nginx did not listen within ${timeoutMs} ms`);
}

/**
 * Start nginx with `http` (the contents of an http block, given the port to listen on and the
 * directory for the files it needs) inside a main context of our own: in the foreground, one
 * worker, everything in a temporary directory. Retries with another port if the one picked was
 * taken meanwhile.
 */
export async function startNginx(binary: string, http: (port: number, dir: string) => string): Promise<Nginx> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-nginx-'));
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        // As root, nginx's workers would run as nobody, who cannot reach the unix socket in our
        // 0700 temporary directory; who may connect to the socket is a deployment's concern
        // (docs/deploy.md), not this test's.
        process.getuid?.() === 0 ? 'user root;' : '',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log notice;`,
        'events { worker_connections 512; }',
        'http {',
        '    access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${dir}/${kind}_temp;`),
        http(port, dir),
        '}',
        '',
      ].join('\n'),
    );
    const check = spawnSync(binary, ['-t', '-p', dir, '-c', conf, '-e', `${dir}/error.log`], { encoding: 'utf8' });
    if (check.status !== 0) {
      const reason = `${check.stderr}${check.error?.message ?? ''}`;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx -t refused the configuration:\n${reason}`);
    }
    const proc = spawn(binary, ['-p', dir, '-c', conf, '-e', `${dir}/error.log`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const nginx = new Nginx(proc, port, dir);
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await accepting(port, nginx.exited, 10_000);
      return nginx;
    } catch (err) {
      const log = `${nginx.errorLog()}${stderr}`;
      await nginx.kill();
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw new Error(`${(err as Error).message}:\n${log}`);
    }
  }
}

export async function killNginxes(): Promise<void> {
  await Promise.all([...running].map((nginx) => nginx.kill()));
}
