import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { APPS, type LogLine, runToExit, serve, start } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-log-'));

/** The error log file's lines, each parsed: every one must be JSON. */
function logLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

/** Wait until the file's lines satisfy `done` (a file has no event to wait on: polled every 20 ms;
 *  the bound only catches hangs). */
async function waitForLines(file: string, done: (lines: LogLine[]) => boolean, what: string): Promise<LogLine[]> {
  await waitFor(() => done(logLines(file)), `${what} in ${file}`);
  return logLines(file);
}

const readyCount = (lines: LogLine[]) => lines.filter((l) => /^Worker \(pid:\d+\) ready$/.test(l.msg)).length;

describe('--error-logfile', () => {
  it("takes every process's lines, as JSON carrying the role and pid, and leaves stderr empty", async () => {
    const file = path.join(tempDir(), 'error.log');
    const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '--error-logfile', file, ROUTES]);
    const lines = await waitForLines(file, (l) => readyCount(l) === 2, '2 ready workers');
    const workerPids = unicorn.workerPids();
    expect(workerPids).toHaveLength(2);
    for (const line of lines) {
      if (line.role === 'arbiter') expect(line.pid).toBe(unicorn.pid);
      else
        expect({ role: line.role, pid: workerPids.includes(line.pid), worker: typeof line.worker }).toEqual({
          role: 'worker',
          pid: true,
          worker: 'number',
        });
    }
    expect(new Set(lines.map((l) => l.role))).toEqual(new Set(['arbiter', 'worker']));
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    // Nothing is lost at exit: the arbiter's last line is there.
    expect(logLines(file).at(-1)!.msg).toBe('Shutting down: Master');
    expect(unicorn.stderr).toBe('');
  });

  it('is reopened by USR1 in the arbiter and every worker, after a real rename (logrotate)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'error.log');
    const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '--error-logfile', file, ROUTES]);
    await waitForLines(file, (l) => readyCount(l) === 2, '2 ready workers');
    renameSync(file, `${file}.1`);
    unicorn.signal('SIGUSR1');
    const reopened = await waitForLines(
      file,
      (l) => l.filter((x) => x.msg.startsWith('Reopened log files')).length === 3,
      'a reopen by each process',
    );
    expect(
      reopened
        .filter((l) => l.msg.startsWith('Reopened log files'))
        .map((l) => l.role)
        .sort(),
    ).toEqual(['arbiter', 'worker', 'worker']);
    // The rotated file kept what came before; the signal's own line went to whichever file was open.
    expect(readyCount(logLines(`${file}.1`))).toBe(2);
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    expect(logLines(file).at(-1)!.msg).toBe('Shutting down: Master');
  });
});

describe('a log file that cannot be written', () => {
  it("USR1 with the error log's directory gone: every process writes on to the file as it was, ctl reopen-logs says why, a later USR1 reopens", async () => {
    const dir = tempDir();
    const logs = path.join(dir, 'logs');
    mkdirSync(logs);
    const file = path.join(logs, 'error.log');
    const socket = path.join(dir, 'ctl.sock');
    const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '--error-logfile', file, '--control-socket', socket, ROUTES]);
    const lines = await waitForLines(file, (l) => readyCount(l) === 2, '2 ready workers');
    const url = lines.find((l) => l.msg.startsWith('Listening at: '))!.address as string;
    rmSync(logs, { recursive: true });
    const ctl = await runToExit(['ctl', '--socket', socket, 'reopen-logs']);
    expect({ code: ctl.code, stderr: ctl.stderr }).toEqual({
      code: 1,
      stderr: `unicorn ctl: error: cannot reopen ${file} (ENOENT: no such file or directory): the arbiter writes on to the file as it was; told 2 workers to reopen theirs\n`,
    });
    unicorn.signal('SIGUSR1');
    expect((await request(`${url}/`)).status).toBe(200);
    mkdirSync(logs);
    unicorn.signal('SIGUSR1');
    // The first USR1 may be handled after the directory is back, and then reopen as well.
    const reopeners = (l: LogLine[]) => new Set(l.filter((x) => x.msg.startsWith('Reopened log files')).map((x) => `${x.role} ${x.pid}`));
    const reopened = await waitForLines(file, (l) => reopeners(l).size === 3, 'a reopen by each process');
    expect([...reopeners(reopened)].map((who) => who.split(' ')[0]).sort()).toEqual(['arbiter', 'worker', 'worker']);
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(logLines(file).at(-1)!.msg).toBe('Shutting down: Master');
  });

  it('a full disk (/dev/full) for the error log: the server serves and stops, and says so on stderr', async () => {
    const sock = path.join(tempDir(), 'app.sock');
    const unicorn = start(['-b', `unix:${sock}`, '--error-logfile', '/dev/full', ROUTES]);
    const notice =
      'unicorn: cannot write the error log /dev/full: ENOSPC: no space left on device, write; its lines are kept and written once it can be';
    await waitFor(() => unicorn.stderr.includes(notice), 'the notice on stderr');
    const deadline = Date.now() + 10_000;
    let reply: Awaited<ReturnType<typeof request>> | undefined;
    while (!reply) {
      reply = await request('http://localhost/', { socketPath: sock }).catch(() => undefined);
      if (!reply && Date.now() > deadline) throw new Error('no worker answered');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(reply.status).toBe(200);
    const stopping = Date.now();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(5000);
    // Once from each process (at most once a minute), and nothing else.
    expect(new Set(unicorn.stderr.split('\n').filter(Boolean))).toEqual(new Set([notice]));
  });

  it('a full disk (/dev/full) for the access log: a worker reports it, and stops without waiting to be killed', async () => {
    const unicorn = await serve(ROUTES, ['--access-logfile', '/dev/full', '--graceful-timeout', '20s']);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    const failed = await unicorn.waitForLog((l) => l.msg.startsWith('Cannot write the access log'), 'the failure');
    expect(failed).toMatchObject({
      role: 'worker',
      level: 'error',
      msg: 'Cannot write the access log /dev/full: ENOSPC: no space left on device; its lines wait in memory, up to 4MB, and later ones are dropped and counted until it can be written',
    });
    const stopping = Date.now();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect(unicorn.lines('Killing worker')).toEqual([]);
    // The line it could not write is not lost without a word.
    expect(unicorn.lines('Worker exiting with')).toMatchObject([
      {
        role: 'worker',
        level: 'error',
        accessLogDropped: 1,
        msg: 'Worker exiting with 1 access-log line not written to /dev/full (ENOSPC: no space left on device); 1 dropped in all',
      },
    ]);
  });
});

describe('a reload (HUP)', () => {
  it('keeps the error log where, at what level and in what form the arbiter writes it, for the new workers too', async () => {
    const dir = tempDir();
    const [first, second] = [path.join(dir, 'first.log'), path.join(dir, 'second.log')];
    const config = path.join(dir, 'unicorn.config.mjs');
    const write = (settings: object) =>
      writeFileSync(config, `export default ${JSON.stringify({ app: ROUTES, workers: 1, ...settings })};\n`);
    write({ errorLogfile: first });
    const unicorn = start(['-b', '127.0.0.1:0', '-c', config]);
    await waitForLines(first, (l) => readyCount(l) === 1, 'the ready worker');
    write({ errorLogfile: second, logLevel: 'warn', logFormat: 'text' });
    unicorn.signal('SIGHUP');
    const lines = await waitForLines(first, (l) => l.some((x) => x.msg.startsWith('Reload complete')) && readyCount(l) === 2, 'the reload');
    expect(
      lines.find((l) => l.msg.startsWith('--error-logfile, --log-level, --log-format changes take effect on a restart')),
    ).toMatchObject({ level: 'warn', role: 'arbiter' });
    // The new worker's own lines, at info and as JSON, are in the same file as the arbiter's.
    const [, newWorker] = lines.filter((l) => /^Worker \(pid:\d+\) ready$/.test(l.msg)).map((l) => l.workerPid);
    expect(lines.filter((l) => l.pid === newWorker && l.role === 'worker').map((l) => l.msg)).toContainEqual(
      expect.stringMatching(/^Worker serving /),
    );
    expect(existsSync(second)).toBe(false);
  });
});

describe('--log-level and --log-format', () => {
  it("--log-level warning (Gunicorn's name) writes warnings and worse only", async () => {
    const file = path.join(tempDir(), 'error.log');
    const unicorn = start(['-b', '127.0.0.1:0', '--log-level', 'warning', '--error-logfile', file, ROUTES]);
    // Nothing at info is written, so readiness is seen from the outside.
    const [crashed] = await waitForWorkers(() => unicorn.workerPids(), 1);
    process.kill(crashed!, 'SIGKILL');
    const lines = await waitForLines(
      file,
      (l) => l.some((x) => x.msg === `Worker (pid:${crashed}) was killed by signal SIGKILL`),
      'the crash',
    );
    expect(lines.map((l) => l.level)).toEqual(['error']);
  });

  it('--log-format text writes one readable line per entry, with the role and pid', async () => {
    const file = path.join(tempDir(), 'error.log');
    const unicorn = start(['-b', '127.0.0.1:0', '--log-format', 'text', '--error-logfile', file, ROUTES]);
    const [workerPid] = await waitForWorkers(() => unicorn.workerPids(), 1);
    await waitFor(() => /Worker \(pid:\d+\) ready/.test(readFileSync(file, 'utf8')), 'the ready line');
    const text = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const stamp = String.raw`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+0000\]`;
    expect(text[0]).toMatch(
      new RegExp(`^${stamp} \\[${unicorn.pid}\\] \\[INFO\\] \\[arbiter\\] Starting unicorn \\S+ version=\\S+ node=v\\d`),
    );
    expect(text).toContainEqual(
      expect.stringMatching(new RegExp(`^${stamp} \\[${workerPid}\\] \\[INFO\\] \\[worker 1\\] Worker serving `)),
    );
    for (const line of text)
      expect(line).toMatch(new RegExp(`^${stamp} \\[\\d+\\] \\[(DEBUG|INFO|WARN|ERROR|FATAL)\\] \\[(arbiter|worker \\d+)\\] `));
  });

  it.each([
    [['--log-level', 'loud'], '--log-level "loud" is not accepted: expected debug, info, warn (or warning), error, fatal (or critical)'],
    [['--log-format', 'xml'], '--log-format "xml" is not accepted: expected text or json'],
    [
      ['--error-logfile', '/no/such/dir/error.log'],
      '--error-logfile "/no/such/dir/error.log" is not accepted: expected a file path in an existing directory, or - (no such directory: /no/such/dir)',
    ],
    [
      ['--error-logfile', tmpdir()],
      `--error-logfile ${JSON.stringify(tmpdir())} is not accepted: expected a file path in an existing directory, or - (a directory: ${tmpdir()})`,
    ],
  ])('refuses %j', async (args, message) => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', ...args, ROUTES]);
    expect({ code, stderr }).toEqual({ code: 2, stderr: `unicorn: error: ${message}\n` });
  });
});

describe('--capture-output', () => {
  const app = (dir: string) => {
    const file = path.join(dir, 'chatty.js');
    writeFileSync(
      file,
      `console.log('loading the app'); console.error('a warning while loading');
       module.exports = (req, res) => { console.log('serving ' + req.url); res.end('ok'); };`,
    );
    return file;
  };

  it("sends the workers' stdout and stderr to the error log, as lines of that worker", async () => {
    const dir = tempDir();
    const unicorn = await serve(app(dir), ['--capture-output']);
    expect((await request(`${unicorn.url()}/hello`)).body).toBe('ok');
    const [workerPid] = unicorn.workerPids();
    const captured = await unicorn.waitForLog((l) => l.msg === 'serving /hello', 'the request line');
    expect(captured).toMatchObject({ role: 'worker', worker: 1, pid: workerPid, stream: 'stdout', level: 'info' });
    expect(unicorn.lines('loading the app')).toEqual([expect.objectContaining({ stream: 'stdout', pid: workerPid })]);
    expect(unicorn.lines('a warning while loading')).toEqual([
      expect.objectContaining({ stream: 'stderr', level: 'error', pid: workerPid }),
    ]);
    expect(unicorn.stdout).toBe('');
  });

  it('loses nothing a worker writes as it exits: the arbiter reads it all before it exits itself', async () => {
    const file = path.join(tempDir(), 'closing.js');
    // As an app closing its resources on the way out would, with enough to outlast the exit event.
    writeFileSync(
      file,
      `process.on('exit', () => { for (let i = 0; i < 1000; i++) console.log('closing ' + i); console.error('closed ' + process.pid); });
       module.exports = (req, res) => res.end('ok');`,
    );
    const unicorn = await serve(file, ['--capture-output'], { workers: 4 });
    const workerPids = unicorn.workerPids();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    await unicorn.outputClosed;
    expect(
      unicorn
        .lines('closed ')
        .map((l) => [l.msg, l.pid, l.stream])
        .sort(),
    ).toEqual(workerPids.map((pid) => [`closed ${pid}`, pid, 'stderr']).sort());
    expect(unicorn.lines('closing ')).toHaveLength(4000);
    // The arbiter's last line is still its own last word.
    expect(unicorn.logs.at(-1)!.msg).toBe('Shutting down: Master');
  });

  it('without it, the app writes to the standard streams unicorn was given', async () => {
    const unicorn = await serve(app(tempDir()));
    await request(`${unicorn.url()}/hello`);
    await unicorn.waitForOutput('serving /hello');
    expect(unicorn.stdout).toBe('loading the app\nserving /hello\n');
    expect(unicorn.stderr).toContain('a warning while loading\n');
  });
});

/** Wait until `done()` (polled every 20 ms; the bound only catches hangs). */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Wait until the arbiter has `count` worker processes (when the log is not on stderr to say so),
 *  and return their pids. Its other children (the bind helper at start) are not workers. */
async function waitForWorkers(pids: () => number[], count: number): Promise<number[]> {
  const workers = () =>
    pids().filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker/main.js');
      } catch {
        return false;
      }
    });
  await waitFor(() => workers().length >= count, `${count} workers`);
  return workers();
}
