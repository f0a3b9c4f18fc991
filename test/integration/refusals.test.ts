import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WORKERS_FORMS } from '../../src/config/worker-count';
import { APPS, NOBODY, runToExit, type StartOptions, start } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/** The refusal as a person sees it: the one line on stderr. */
async function refusal(args: string[], options: StartOptions = {}) {
  const { code, stderr, unicorn } = await runToExit(args, options);
  const lines = stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
  return { code, lines, unicorn };
}

describe('bad flags and values', () => {
  it.each([
    [['-w', 'abc', ROUTES], 'unicorn: error: --workers "abc" is not accepted: expected a whole number of at least 1'],
    [['-k', 'gevent', ROUTES], 'unicorn: error: --worker-class "gevent" is not accepted: expected sync or async'],
    [
      ['-b', 'localhost:99999', ROUTES],
      /^unicorn: error: --bind "localhost:99999" is not accepted: expected HOST:PORT, .* \("99999" is not a port number \(0 to 65535\)\)$/,
    ],
    [
      ['--graceful-timeout', 'later', ROUTES],
      /^unicorn: error: --graceful-timeout "later" is not accepted: expected a duration such as 30s/,
    ],
    [['--backlog', '-5', ROUTES], 'unicorn: error: --backlog "-5" is not accepted: expected a whole number of at least 1'],
    [['--interface', 'cgi', ROUTES], 'unicorn: error: --interface "cgi" is not accepted: expected auto, node or fetch'],
    [
      ['--chdir', '/no/such/place', ROUTES],
      'unicorn: error: --chdir "/no/such/place" is not accepted: expected an existing directory (no such directory)',
    ],
    [['--wrokers', '2', ROUTES], /^unicorn: error: unknown option '--wrokers' \(Did you mean --workers\?\)$/],
    [
      [],
      /^unicorn: error: no app given: name it on the command line as MODULE or MODULE:EXPORT, .*, or as `app` in a config file \(or serve apps and files with --mount and --static\)$/,
    ],
    [
      ['app:1bad'],
      /^unicorn: error: the app "app:1bad" is not accepted: "1bad" is not a JavaScript identifier; expected MODULE or MODULE:EXPORT/,
    ],
  ])('%j exits 2 with one line', async (args, expected) => {
    const { code, lines } = await refusal(args as string[]);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
  });

  it('refuses a bad WEB_CONCURRENCY naming the variable', async () => {
    const { code, lines } = await refusal([ROUTES], { env: { WEB_CONCURRENCY: 'many' } });
    expect(code).toBe(2);
    expect(lines).toEqual([`unicorn: error: WEB_CONCURRENCY "many" is not accepted: expected ${WORKERS_FORMS}`]);
  });

  it('prints help and version, exit 0', async () => {
    const help = await runToExit(['--help']);
    expect(help.code).toBe(0);
    expect(help.unicorn.stdout).toMatch(/Usage: unicorn \[options\] \[MODULE\[:EXPORT\]\]/);
    for (const flag of [
      '--workers',
      '--bind',
      '--backlog',
      '--worker-class',
      '--worker-connections',
      '--keep-alive',
      '--timeout',
      '--graceful-timeout',
      '--chdir',
      '--interface',
    ]) {
      expect(help.unicorn.stdout).toContain(flag);
    }
    // The other program, for a running server.
    expect(help.unicorn.stdout).toContain(
      '\nA running server is managed with `unicorn ctl COMMAND` (status, stats, vassals, reload, stop, start, scale, add, remove, kill, reopen-logs, shutdown); `unicorn ctl --help` describes them.\nMany apps are run by `unicorn emperor DIR` (`unicorn emperor --help`).\n',
    );
    const version = await runToExit(['--version']);
    expect(version.code).toBe(0);
    expect(version.unicorn.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("Gunicorn's settings that unicorn leaves out on purpose", () => {
  it.each([
    [
      ['--preload'],
      /^--preload is not a unicorn option: workers are forked with node:cluster, which starts each one as a fresh Node process, so nothing loaded in the arbiter would be shared with them; the app loads in each worker/,
    ],
    [
      ['--daemon'],
      /^--daemon is not a unicorn option: unicorn stays in the foreground; run it under systemd \(Type=notify with --hook systemd\), in a container, or under a process supervisor/,
    ],
    [['-D'], /^-D is not a unicorn option: unicorn stays in the foreground; /],
    [['--threads', '4'], /^--threads is not a unicorn option: .* use -k async/],
    [['--worker-tmp-dir', '/dev/shm'], /^--worker-tmp-dir is not a unicorn option: workers send their heartbeats to the arbiter over IPC/],
    [['--statsd-host', 'localhost:8125'], /^--statsd-host is not a unicorn option: .* --hook prometheus/],
  ])('%j is refused saying why, not "did you mean", exit 2', async (args, why) => {
    const { code, lines } = await refusal([...args, ROUTES]);
    expect({ code, lines: lines.length }).toEqual({ code: 2, lines: 1 });
    expect(lines[0]!.replace('unicorn: error: ', '')).toMatch(why);
  });
});

describe('output to a pipe whose reader has gone (`unicorn --help | head -1`)', () => {
  it.each([[['--help']], [['--version']], [['--print-config', ROUTES]], [['ctl', '--help']]])('%j ends quietly, exit 0', async (args) => {
    const unicorn = start(args);
    // Our end of its stdout closed before it writes: every write it makes fails with EPIPE.
    unicorn.proc.stdout!.destroy();
    const exit = await unicorn.exited;
    await unicorn.outputClosed;
    expect({ exit, stderr: unicorn.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
  });
});

describe('a directory on the path that cannot be entered', () => {
  // `locked/inner` in a directory anyone can enter. unicorn runs as a user who cannot enter `locked`:
  // nobody, when the tests run as root (whom no mode refuses), else this user, with mode 0000.
  const base = mkdtempSync(path.join(tmpdir(), 'unicorn-locked-'));
  chmodSync(base, 0o755);
  const locked = path.join(base, 'locked');
  mkdirSync(path.join(locked, 'inner'), { recursive: true });
  const asRoot = process.getuid!() === 0;
  chmodSync(locked, asRoot ? 0o700 : 0o000);
  const uid = asRoot ? NOBODY : process.getuid!();
  const why = (fix: string) =>
    `cannot enter ${locked} as uid ${uid}: it has mode ${asRoot ? '0700' : '0000'} and belongs to uid ${process.getuid!()}; let that user search it with chmod o+x ${locked}, or ${fix} a path outside it`;
  const run = (args: string[]) => refusal(['--no-control-socket', ...args, ROUTES], { uid: asRoot ? NOBODY : undefined });

  it.each([
    ['--access-logfile', 'inner/access.log', 'a writable file path in an existing directory, or -'],
    ['--error-logfile', 'error.log', 'a file path in an existing directory, or -'],
    ['--pid', 'inner/app.pid', 'a file path in an existing directory'],
    ['--control-socket', 'inner/ctl.sock', 'a socket path in an existing directory, or false (--no-control-socket) for none'],
    ['--chdir', '', 'an existing directory'],
  ])('%s is refused naming the directory, exit 2', async (flag, file, accepted) => {
    const value = path.join(locked, file);
    expect(await run([flag, value])).toMatchObject({
      code: 2,
      lines: [`unicorn: error: ${flag} ${JSON.stringify(value)} is not accepted: expected ${accepted} (${why('choose')})`],
    });
  });

  it('--bind unix:PATH is refused naming the directory, exit 1', async () => {
    const socket = path.join(locked, 'inner', 'app.sock');
    expect(await run(['-b', `unix:${socket}`])).toMatchObject({
      code: 1,
      lines: [`unicorn: error: cannot listen at unix:${socket}: ${why('give --bind')}`],
    });
  });
});

describe('bind failures', () => {
  it('exits 1 naming the address when it is in use, and starts no worker', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const { code, lines, unicorn } = await refusal(['-b', '127.0.0.1:0', '-b', `127.0.0.1:${port}`, ROUTES]);
      expect(code).toBe(1);
      expect(lines).toEqual([`unicorn: error: cannot listen at http://127.0.0.1:${port}: address already in use`]);
      expect(unicorn.lines('Booting worker')).toEqual([]);
    } finally {
      taken.close();
    }
  });

  it('exits 1 for a unix socket in a missing directory', async () => {
    const { code, lines } = await refusal(['-b', 'unix:/no/such/dir/app.sock', ROUTES]);
    expect(code).toBe(1);
    expect(lines).toEqual(['unicorn: error: cannot listen at unix:/no/such/dir/app.sock: no such directory for the socket file']);
  });

  it('exits 1 for a file descriptor that is not a socket', async () => {
    const { code, lines } = await refusal(['-b', 'fd://0', ROUTES], { stdio: ['pipe', 'pipe', 'pipe'] });
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^unicorn: error: cannot listen at fd:\/\/0: /);
  });
});

describe('app load failures', () => {
  /** Exit 4, the reason in the log, and no respawn loop: each worker booted once. */
  async function loadFailure(app: string, extra: string[] = []) {
    const { code, unicorn } = await runToExit(['-b', '127.0.0.1:0', '-w', '2', ...extra, app], { cwd: APPS });
    expect(code).toBe(4);
    expect(unicorn.lines('Booting worker').length).toBeLessThanOrEqual(2);
    // Both workers fail the same way; the reason is logged once.
    expect(unicorn.bootFailures()).toHaveLength(1);
    const reason = unicorn.bootFailures()[0];
    expect(unicorn.logs.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^App failed to load in worker \(pid:\d+\); stopping$/));
    return reason!.msg;
  }

  it('names a module that does not exist and where it looked', async () => {
    expect(await loadFailure('missing:app')).toMatch(
      new RegExp(
        `^cannot load the app "missing:app": module "missing" was not found from ${APPS} \\(tried ${APPS}/missing, the package "missing"\\)$`,
      ),
    );
  });

  it('names an export that does not exist and what the module exports', async () => {
    expect(await loadFailure('express-app.js:application')).toBe(
      'cannot load the app "express-app.js:application": the module has no export named "application" (it exports: app, default)',
    );
    expect(await loadFailure('no-default.mjs')).toBe(
      'cannot load the app "no-default.mjs": the module has no default export; name one as MODULE:EXPORT (it exports: first, second)',
    );
  });

  it('names the file and line of a syntax error', async () => {
    expect(await loadFailure('./syntax-error')).toMatch(
      new RegExp(
        `^cannot load the app "./syntax-error": importing ${APPS}/syntax-error.js failed: SyntaxError: .* \\(at ${APPS}/syntax-error.js:\\d+\\)`,
      ),
    );
  });

  it('says what an export that is not a handler is', async () => {
    expect(await loadFailure('not-a-handler')).toMatch(
      /^cannot load the app "not-a-handler": it is an object \(Object\); expected a Node request listener/,
    );
  });

  it('asks for --interface when arity cannot tell, and serves with it', async () => {
    expect(await loadFailure('ambiguous.js')).toMatch(/say which with --interface node or --interface fetch$/);
  });

  it('exits 3 when the app fails asynchronously while the worker boots', async () => {
    const { code, unicorn } = await runToExit(['-b', '127.0.0.1:0', '-w', '2', 'boot-crash.js'], { cwd: APPS });
    expect(code).toBe(3);
    expect(unicorn.logs.map((l) => l.msg)).toContainEqual('Worker failed to boot: database unreachable');
    expect(unicorn.lines('Booting worker').length).toBeLessThanOrEqual(2);
  });

  it('exits 3 when the worker fails to boot for another reason', async () => {
    const { code, unicorn } = await runToExit(['-b', '127.0.0.1:0', '-w', '2', 'boot-fails.js'], { cwd: APPS });
    expect(code).toBe(3);
    expect(unicorn.logs.map((l) => l.msg)).toContainEqual('Worker failed to boot: plugin failed to start');
    expect(unicorn.lines('Booting worker').length).toBeLessThanOrEqual(2);
  });
});

describe('--print-config', () => {
  it('prints every effective setting and where it came from, binding nothing', async () => {
    const { code, stderr, unicorn } = await runToExit(['--print-config', '-t', '1m', '--max-worker-memory', '512MB', ROUTES], {
      env: { WEB_CONCURRENCY: '3' },
    });
    expect(code).toBe(0);
    expect(stderr).not.toContain('Listening at');
    const rows = new Map(
      unicorn.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const [key, value, ...source] = line.split(/\s{2,}/);
          return [key, { value, source: source.join(' ') }] as const;
        }),
    );
    expect(rows.get('app')).toEqual({ value: ROUTES, source: 'command line' });
    expect(rows.get('workers')).toEqual({ value: '3', source: 'WEB_CONCURRENCY' });
    expect(rows.get('timeout')).toEqual({ value: '1m', source: '--timeout' });
    expect(rows.get('maxWorkerMemory')).toEqual({ value: '512MB', source: '--max-worker-memory' });
    expect(rows.get('gracefulTimeout')).toEqual({ value: '30s', source: 'default' });
    expect(rows.get('pid')).toEqual({ value: '(none)', source: 'default' });
  });
});
