/**
 * Sockets and privileges from the operating system (docs/os.md): systemd socket activation through
 * the real systemd-socket-activate, dropping the workers to another user (as root, which CI is),
 * unix socket files (stale, live, owner and mode), and --reuse-port's per-worker sockets, seen in
 * /proc.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { APPS, BIN, childPids, ROOT, runToExit, serve, start, Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const asRoot = process.getuid?.() === 0;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory anyone may read (mkdtemp makes it 0700): workers dropped to `nobody` load
 *  their app from it. Only root may write in it. */
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-os-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

/** Wait until `check` holds, polling: what /proc shows settles a moment after the log line that
 *  announces it. The bound only catches hangs. */
async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `Uid:`, `Gid:` and `Groups:` of a process, from /proc. */
function credentials(pid: number): { uid: string; gid: string; groups: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)![1]!.trim().split(/\s+/).join(' ');
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** The environment a process was started with. */
const environment = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

/** The inodes of the sockets a process holds, from /proc/PID/fd. */
function socketInodes(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return match ? [match[1]!] : [];
    } catch {
      return []; // closed while we looked
    }
  });
}

/** The inodes of the sockets listening on 127.0.0.1:`port`, from /proc/net/tcp. */
function listeningInodes(port: number): Set<string> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const rows = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/));
  return new Set(rows.filter((f) => f[1] === local && f[3] === '0A').map((f) => f[9]!));
}

/** Resolves true once `text` is on the process's stderr, false if it exits first. */
function stderrShows(unicorn: Unicorn, text: string, timeoutMs = 15_000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}:\n${unicorn.stderr}`)), timeoutMs);
    const done = (shown: boolean) => {
      clearTimeout(timer);
      unicorn.proc.stderr!.off('data', check);
      resolve(shown);
    };
    const check = () => unicorn.stderr.includes(text) && done(true);
    unicorn.proc.stderr!.on('data', check);
    unicorn.proc.once('exit', () => done(unicorn.stderr.includes(text)));
    check();
  });
}

/**
 * Start unicorn as a .socket unit would: systemd-socket-activate binds a TCP port and the unix
 * socket `socket` (fds 3 and 4, named web and local) and, at the first connection, execs unicorn
 * in its own place with them. That first request is the one returned, served by unicorn.
 */
async function activated(
  socket: string,
  args: string[],
): Promise<{ unicorn: Unicorn; port: number; first: Awaited<ReturnType<typeof request>> }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn(SOCKET_ACTIVATE, ['-l', `127.0.0.1:${port}`, '-l', socket, '--fdname=web:local', process.execPath, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, UNICORN_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Killed by pid after the test, pass or fail, as every unicorn is: it becomes unicorn.
    const unicorn = new Unicorn(proc);
    if (await stderrShows(unicorn, `Listening on ${socket} as 4.`)) {
      // Boot is timed under load only to catch a hang.
      const first = await request(`http://127.0.0.1:${port}/`, { timeoutMs: 30_000 });
      return { unicorn, port, first };
    }
    // Another process took the port between freePort and the bind.
    if (attempt === 3) throw new Error(`systemd-socket-activate did not start:\n${unicorn.stderr}`);
  }
}

const servedBy = (body: string) => Number(/^hello (\d+)/.exec(body)?.[1]);

(existsSync(SOCKET_ACTIVATE) ? describe : describe.skip)('systemd socket activation', () => {
  it('serves on the TCP and unix sockets systemd passes, binds nothing, and leaves the socket file to systemd', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'app.sock');
    const unbound = path.join(dir, 'bind.sock');
    const { unicorn, port, first } = await activated(socket, ['-w', '2', '-b', `unix:${unbound}`, ROUTES]);
    expect(first.status).toBe(200);
    // The arbiter is the process systemd-socket-activate started: it exec'd in place.
    expect(unicorn.lines('Listening at: ').map((l) => [l.pid, l.msg])).toEqual([
      [unicorn.pid, `Listening at: http://127.0.0.1:${port} (inherited from systemd)`],
      [unicorn.pid, `Listening at: unix:${socket} (inherited from systemd)`],
    ]);
    expect(unicorn.lines('Socket activation: ').map((l) => l.msg)).toEqual([
      `Socket activation: serving on the 2 sockets systemd passed; --bind unix:${unbound} is not bound`,
    ]);
    expect(existsSync(unbound)).toBe(false);
    await unicorn.ready(2);
    const workers = unicorn.workerPids();
    expect(workers).toHaveLength(2);
    expect(workers).toContain(servedBy(first.body));
    expect(workers).toContain(servedBy((await request('http://localhost/', { socketPath: socket })).body));
    // The workers, and the app in them, never see the variables meant for the arbiter.
    for (const pid of workers) expect(environment(pid).filter((v) => v.startsWith('LISTEN_'))).toEqual([]);

    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    // systemd's socket file outlives the service: the next start is activated through it.
    expect(lstatSync(socket).isSocket()).toBe(true);
  });

  it('keeps serving through a USR2 re-exec: the new arbiter inherits the sockets systemd passed', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'app.sock');
    const { unicorn, port } = await activated(socket, ['-w', '1', ROUTES]);
    await unicorn.ready(1);
    unicorn.signal('SIGUSR2');
    const successor = (await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec')).successorPid as number;
    const successorLines = (prefix: string) => unicorn.logs.filter((l) => l.pid === successor && l.msg.startsWith(prefix));
    await unicorn.waitForLog(() => successorLines('Worker (pid:').some((l) => l.msg.endsWith(' ready')), 'the new arbiter serving');
    expect(successorLines('Listening at: ').map((l) => l.msg)).toEqual([
      `Listening at: http://127.0.0.1:${port} (inherited from pid ${unicorn.pid})`,
      `Listening at: unix:${socket} (inherited from pid ${unicorn.pid})`,
    ]);
    expect(environment(successor).filter((v) => v.startsWith('LISTEN_'))).toEqual([]);

    // The old arbiter hands over and goes; the new one serves alone, at both sockets.
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    const workers = childPids(successor);
    expect(workers).toHaveLength(1);
    expect(servedBy((await request(`http://127.0.0.1:${port}/`)).body)).toBe(workers[0]);
    expect(servedBy((await request('http://localhost/', { socketPath: socket })).body)).toBe(workers[0]);
    expect(lstatSync(socket).isSocket()).toBe(true);

    process.kill(successor, 'SIGTERM');
    expect(await waitUntilGone([successor])).toEqual([]);
    expect(lstatSync(socket).isSocket()).toBe(true);
  });
});

/** An app, in a directory `nobody` can read, that answers with who its worker runs as. */
function whoAmIApp(): { dir: string; app: string } {
  const dir = tempDir();
  const app = path.join(dir, 'whoami.js');
  writeFileSync(
    app,
    'module.exports = (req, res) => res.end(JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), umask: process.umask() }));\n',
  );
  chmodSync(app, 0o644);
  return { dir, app };
}

interface WhoAmI {
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
  umask: number;
}

const whoAmI = async (url: string, socketPath?: string): Promise<WhoAmI> => JSON.parse((await request(url, { socketPath })).body) as WhoAmI;

/** A user other than root whose entry in /etc/group lists it in a group besides its own, for
 *  --initgroups; undefined when this system has none. */
function userWithSupplementaryGroups(): { name: string; gid: number; supplementary: number[] } | undefined {
  const groups = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((line) => line.split(':'));
  for (const [, , gidRaw, members] of groups) {
    for (const name of members?.split(',').filter(Boolean) ?? []) {
      const entry = spawnSync('getent', ['passwd', name], { encoding: 'utf8' }).stdout.split(':');
      if (entry.length < 4 || entry[2] === '0') continue;
      const supplementary = groups.filter((g) => g[3]?.split(',').includes(name)).map((g) => Number(g[2]));
      if (supplementary.length > 0 && gidRaw !== entry[3]) return { name, gid: Number(entry[3]), supplementary };
    }
  }
  return undefined;
}

(asRoot ? describe : describe.skip)('--user, --group and --umask (as root)', () => {
  it('drops the workers to nobody:nogroup while the arbiter stays root; the socket file and the logs are theirs', async () => {
    const { dir, app } = whoAmIApp();
    const socket = path.join(dir, 'app.sock');
    const accessLog = path.join(dir, 'access.log');
    const unicorn = await serve(
      app,
      ['--user', 'nobody', '--group', 'nogroup', '--umask', '0007', '-b', `unix:${socket}`, '--access-logfile', accessLog],
      {
        cwd: dir,
        workers: 2,
      },
    );
    expect(unicorn.lines('Workers run as ').map((l) => l.msg)).toEqual(['Workers run as nobody:nogroup (uid 65534, gid 65534)']);
    expect(credentials(unicorn.pid)).toMatchObject({ uid: '0 0 0 0', gid: '0 0 0 0' });
    const workers = unicorn.workerPids();
    expect(workers).toHaveLength(2);
    for (const pid of workers) {
      // Real, effective, saved and filesystem ids, and root's supplementary groups gone.
      expect(credentials(pid)).toEqual({ uid: '65534 65534 65534 65534', gid: '65534 65534 65534 65534', groups: '65534' });
    }
    const reply = await whoAmI(unicorn.url());
    expect(reply).toMatchObject({ uid: 65534, gid: 65534, groups: [65534], umask: 0o007 });
    expect(workers).toContain(reply.pid);
    expect((await whoAmI('http://localhost/', socket)).uid).toBe(65534);

    // The socket file: the workers' user and group, and the mode --umask leaves.
    const stat = statSync(socket);
    expect({ uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 }).toEqual({ uid: 65534, gid: 65534, mode: 0o770 });

    // The access log, which the workers open after the drop in a directory only root may write,
    // was made theirs by the arbiter; after logrotate's move and USR1, the new one is too.
    expect(statSync(accessLog)).toMatchObject({ uid: 65534, gid: 65534 });
    await eventually(() => readFileSync(accessLog, 'utf8').includes('"GET / HTTP/1.1" 200'), 'the access-log line');
    renameSync(accessLog, `${accessLog}.1`);
    unicorn.signal('SIGUSR1');
    await unicorn.waitForLog((l) => l.msg === 'Handling signal: usr1', 'USR1 handled');
    await eventually(() => existsSync(accessLog), 'the new access log');
    expect(statSync(accessLog)).toMatchObject({ uid: 65534, gid: 65534 });
    // Each worker reopens on its own IPC message: ask until one has written to the new file.
    const deadline = Date.now() + 15_000;
    while (!readFileSync(accessLog, 'utf8').includes('GET /after-rotation')) {
      if (Date.now() > deadline) throw new Error(`no line in the new access log:\n${unicorn.stderr}`);
      await request(`${unicorn.url()}/after-rotation`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(unicorn.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  const candidate = userWithSupplementaryGroups();
  (candidate ? it : it.skip)(
    `--initgroups gives the workers the user's supplementary groups (${candidate?.name ?? 'no such user here'})`,
    async () => {
      const { name, gid, supplementary } = candidate!;
      const { dir, app } = whoAmIApp();
      const plain = await serve(app, ['--user', name], { cwd: dir });
      expect((await whoAmI(plain.url())).groups).toEqual([gid]);
      const withGroups = await serve(app, ['--user', name, '--initgroups'], { cwd: dir });
      expect((await whoAmI(withGroups.url())).groups.sort((a, b) => a - b)).toEqual(
        [...new Set([gid, ...supplementary])].sort((a, b) => a - b),
      );
    },
  );

  it('names the user a worker runs as when it cannot read the app', async () => {
    const { dir, app } = whoAmIApp();
    chmodSync(dir, 0o700);
    const { code, unicorn } = await runToExit(['--user', 'nobody', '-b', '127.0.0.1:0', app], { cwd: dir });
    expect(code).toBe(3);
    expect(unicorn.logs.find((l) => l.msg.startsWith('Worker failed to boot: '))?.msg).toBe(
      `Worker failed to boot: EACCES: permission denied, stat '${app}' (the worker runs as nobody:nogroup (uid 65534, gid 65534), from --user and --group)`,
    );
  });

  it('refuses a user that does not exist, before binding anything', async () => {
    const { code, stderr } = await runToExit(['--user', 'no-such-user-here', '-b', '127.0.0.1:0', ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      'unicorn: error: --user "no-such-user-here" is not accepted: expected a user name or uid (no user named "no-such-user-here" on this system)\n',
    );
    const initgroups = await runToExit(['--initgroups', '-b', '127.0.0.1:0', ROUTES]);
    expect(initgroups).toMatchObject({
      code: 2,
      stderr: 'unicorn: error: --initgroups sets the supplementary groups of the --user: give --user as well\n',
    });
  });
});

/**
 * What a proxy or script that waits for the socket file does: watch its directory and, the moment
 * the file is there, send a request through it. Resolves with the reply or the error.
 */
function requestOnceThere(socket: string): { watching: Promise<void>; reply: Promise<{ status: number } | { error: string }> } {
  let ready!: () => void;
  const watching = new Promise<void>((resolve) => (ready = resolve));
  const reply = new Promise<{ status: number } | { error: string }>((resolve) => {
    const watcher = watch(path.dirname(socket), () => {
      if (!existsSync(socket)) return;
      watcher.close();
      request('http://localhost/', { socketPath: socket }).then(resolve, (err: NodeJS.ErrnoException) =>
        resolve({ error: err.code ?? err.message }),
      );
    });
    ready();
  });
  return { watching, reply };
}

describe('a unix socket file appears only once the socket listens', () => {
  it('a client that connects the moment the file appears is served, every time', async () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const dir = tempDir();
      const socket = path.join(dir, 'app.sock');
      const client = requestOnceThere(socket);
      await client.watching;
      const unicorn = start(['-b', `unix:${socket}`, ROUTES]);
      expect(await client.reply).toMatchObject({ status: 200 });
      // Bound under a temporary name beside it, which is gone once the file has its own.
      expect(readdirSync(dir)).toEqual(['app.sock']);
      unicorn.signal('SIGTERM');
      expect(await unicorn.exited).toEqual({ code: 0, signal: null });
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('a path too long for a temporary name beside it is bound in place, with a warning', async () => {
    const dir = tempDir();
    // 100 bytes: a socket address holds 108, the temporary name is 10 longer.
    const socket = path.join(dir, `${'s'.repeat(100 - dir.length - 6)}.sock`);
    expect(Buffer.byteLength(socket)).toBe(100);
    const unicorn = await serve(ROUTES, ['-b', `unix:${socket}`]);
    expect(unicorn.lines(`unix:${socket}: `).map((l) => l.msg)).toEqual([
      `unix:${socket}: the path leaves no room for a temporary name beside it, so the socket file appears a moment before it accepts connections; a path 10 bytes shorter avoids this`,
    ]);
    expect((await request('http://localhost/', { socketPath: socket })).status).toBe(200);
  });
});

describe('a unix socket file already there', () => {
  it('is replaced when nothing listens on it, and refused while a server does', async () => {
    const dir = tempDir();
    const socket = path.join(dir, 'app.sock');
    // A server that dies without removing its socket file (as a SIGKILL leaves it).
    const crashed = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(crashed.signal).toBe('SIGKILL');
    expect(lstatSync(socket).isSocket()).toBe(true);

    const unicorn = await serve(ROUTES, ['-b', `unix:${socket}`]);
    expect(unicorn.lines('Replaced the stale socket file').map((l) => l.msg)).toEqual([
      `Replaced the stale socket file ${socket}: nothing was listening on it`,
    ]);
    expect(unicorn.workerPids()).toContain(servedBy((await request('http://localhost/', { socketPath: socket })).body));

    const second = await runToExit(['-b', `unix:${socket}`, ROUTES]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `unicorn: error: cannot listen at unix:${socket}: a server is already listening on it; stop it, or bind another path\n`,
    );
    // The first one serves on at the same file.
    expect(unicorn.workerPids()).toContain(servedBy((await request('http://localhost/', { socketPath: socket })).body));
  });
});

describe('--reuse-port', () => {
  it('gives each worker a listening socket of its own, kept for its replacement and closed when the workers are fewer', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '--reuse-port'], { workers: 3 });
    expect(unicorn.lines('Each worker accepts').map((l) => l.msg)).toEqual([
      'Each worker accepts on a socket of its own at every TCP address (--reuse-port)',
    ]);
    const port = Number(new URL(unicorn.url()).port);
    const own = (pid: number) => socketInodes(pid).filter((inode) => listeningInodes(port).has(inode));
    // Each worker holds copies of one listening socket, none another worker's; the arbiter holds them all.
    await eventually(() => listeningInodes(port).size === 3, 'three listening sockets');
    const workers = unicorn.workerPids();
    const held = new Map(workers.map((pid) => [pid, [...new Set(own(pid))]]));
    for (const inodes of held.values()) expect(inodes).toHaveLength(1);
    expect(new Set([...held.values()].flat()).size).toBe(3);
    expect(new Set(own(unicorn.pid))).toEqual(listeningInodes(port));

    // The kernel spreads connections over the sockets: 30 connections all hashed to one of three
    // sockets would be a 1 in 10^14 chance.
    const servers = new Set<number>();
    for (let i = 0; i < 30; i++) servers.add(servedBy((await request(unicorn.url())).body));
    expect(servers.size).toBeGreaterThan(1);
    for (const pid of servers) expect(workers).toContain(pid);

    // A crashed worker's socket waits, with what is queued on it, for its replacement.
    const victim = workers[1]!;
    process.kill(victim, 'SIGKILL');
    await unicorn.ready(4);
    await eventually(() => unicorn.workerPids().length === 3 && !unicorn.workerPids().includes(victim), 'the replacement');
    const replacement = unicorn.workerPids().find((pid) => !workers.includes(pid))!;
    await eventually(() => own(replacement).length > 0, "the replacement's socket");
    expect([...new Set(own(replacement))]).toEqual(held.get(victim));
    expect(listeningInodes(port).size).toBe(3);

    // One worker fewer: its socket leaves the port (test/integration/reuse-port.test.ts has the timing).
    unicorn.signal('SIGTTOU');
    await eventually(() => unicorn.workerPids().length === 2 && listeningInodes(port).size === 2, 'two workers on two sockets');
    for (let i = 0; i < 10; i++) expect((await request(unicorn.url())).status).toBe(200);
  });
});
