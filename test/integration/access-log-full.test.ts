/**
 * The access log when it cannot be written: a full disk (ENOSPC), a pipe nobody reads, a file at
 * its size limit (EFBIG). Memory stays bounded, what is dropped is counted and said, no request
 * fails, and no line is torn, before or after the log can be written again.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants, mkdtempSync, openSync, readFileSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ctl, ctlStats } from '../helpers/ctl';
import { Load } from '../helpers/load';
import { APPS, BIN, type LogLine, residentBytes, start, Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
/** Request lines of 4 kB: lines that add up fast, within --limit-request-line (4094), and each
 *  shorter than PIPE_BUF (4096 bytes), which a pipe takes whole. */
const PADDED = `/?pad=${'x'.repeat(3900)}`;
/** A worker's resident memory may grow by this much under the load: 4 MB of lines wait, the rest is
 *  its heap at work (about 25 MB). Keeping every line, it grew by more than 100 MB. */
const GROWTH_LIMIT = 48 * 1024 * 1024;
/** A line of the default format, whole: `127.0.0.1 - - [06/Dec/2026:03:05:12 +0000] "GET /?pad=… HTTP/1.1" 200 … "-" "-"`. */
const WHOLE_LINE =
  /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/(\?pad=x+)? HTTP\/1\.1" 200 \d+ "-" "-"$/;

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'unicorn-access-full-'));

/** The lines of `text`, which must end with a newline (a torn last line does not). */
function wholeLines(text: string): string[] {
  if (text === '') return [];
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

function expectWhole(lines: string[]): void {
  expect(lines.filter((line) => !WHOLE_LINE.test(line)).map((line) => line.slice(0, 120))).toEqual([]);
}

/** Each worker's drops, as it says them in the error log when the log is written again or at exit. */
const droppedSaid = (unicorn: Unicorn): LogLine[] =>
  unicorn.logs.filter((l) => l.role === 'worker' && typeof l.accessLogDropped === 'number');
const sumDropped = (lines: LogLine[]) => lines.reduce((sum, l) => sum + (l.accessLogDropped as number), 0);

/** Workers that said they began dropping lines. */
const droppers = (unicorn: Unicorn): Set<number> =>
  new Set(unicorn.logs.filter((l) => l.role === 'worker' && l.msg.startsWith('Dropping access-log lines')).map((l) => l.pid));
/** Every worker that began dropping has said how many it dropped (keep-alive connections may all
 *  be one worker's). */
const allSaid = (unicorn: Unicorn): boolean => [...droppers(unicorn)].every((pid) => droppedSaid(unicorn).some((l) => l.pid === pid));

/** Send padded requests until `count` more have succeeded. */
async function loadUntil(load: Load, count: number): Promise<void> {
  await load.flowing(count, 60_000);
}

/** Keep-alive load of about 60 MB of lines, after a warm-up: each worker's memory must grow by less
 *  than GROWTH_LIMIT meanwhile, and a worker must have said it drops lines. The load goes on. */
async function loadWhileDropping(unicorn: Unicorn): Promise<Load> {
  const workers = unicorn.workerPids();
  const load = await Load.start(`${unicorn.url()}${PADDED}`, { keepAlive: true, concurrency: 8, pauseMs: 0 });
  await loadUntil(load, 1000);
  const before = workers.map(residentBytes);
  await loadUntil(load, 15_000);
  // NaN, which fails the check, for a worker gone meanwhile.
  const growth = workers.map((pid, i) => (residentBytes(pid) ?? Number.NaN) - (before[i] ?? Number.NaN));
  for (const bytes of growth) expect(bytes).toBeLessThan(GROWTH_LIMIT);
  await unicorn.waitForLog((l) => l.role === 'worker' && l.msg.startsWith('Dropping access-log lines'), 'a worker saying it drops lines');
  return load;
}

describe('an access log that cannot be written', () => {
  it('on a full disk (ENOSPC): memory stays bounded, drops are counted and said (error log, ctl stats), no request fails, and every line is whole once it can be written', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    const socket = path.join(dir, 'ctl.sock');
    symlinkSync('/dev/full', file);
    const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '-k', 'async', '--access-logfile', file, '--control-socket', socket, ROUTES]);
    await unicorn.ready(2);
    const load = await loadWhileDropping(unicorn);
    const during = await ctlStats(socket);
    expect(during.accessLogDropped).toBeGreaterThan(0);
    expect(during.accessLogDropped).toBe(during.workers.reduce((sum, w) => sum + w.accessLogDropped, 0));
    const plain = await ctl(['--socket', socket, 'stats']);
    expect(plain.stdout).toMatch(/^access_log_dropped [1-9]\d*$/m);

    // Space comes back: the path is a file again, reopened on USR1.
    unlinkSync(file);
    unicorn.signal('SIGUSR1');
    await unicorn.waitForLog(() => allSaid(unicorn), 'each worker that dropped lines saying how many');
    await loadUntil(load, 200);
    const counts = await load.stop();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    // Each worker said what it dropped while the disk was full (and maybe a few more while it wrote
    // what had waited).
    for (const said of droppedSaid(unicorn))
      expect(said.msg).toMatch(/^\d+ access-log lines? dropped while .* could not take them \(.+\), for [\d.]+ s; writing again$/);
    const full = droppedSaid(unicorn).filter((l) => l.msg.includes('(ENOSPC: no space left on device)'));
    expect(new Set(full.map((l) => l.pid))).toEqual(droppers(unicorn));
    const lines = wholeLines(readFileSync(file, 'utf8'));
    expectWhole(lines);
    // Every request has its line, or is counted as dropped.
    expect(lines.length + sumDropped(droppedSaid(unicorn))).toBe(counts.ok);
  }, 120_000);

  it('to a pipe nobody reads: memory stays bounded, and once it is read every line arrives whole; a stop does not wait for it', async () => {
    const dir = tempDir();
    const fifo = path.join(dir, 'access.fifo');
    execFileSync('mkfifo', [fifo]);
    // Open for reading, not read: writes fill the pipe, then wait.
    const reader = new net.Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    reader.pause();
    const unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '-k', 'async', '--graceful-timeout', '20', '--access-logfile', fifo, ROUTES]);
    try {
      await unicorn.ready(2);
      const load = await loadWhileDropping(unicorn);

      // Read now: what waited is written, then what comes.
      let text = '';
      reader.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      reader.resume();
      await unicorn.waitForLog(() => allSaid(unicorn), 'each worker that dropped lines saying how many');
      await loadUntil(load, 200);
      // Not read again, the stop does not wait on the pipe: a worker says what it leaves.
      reader.pause();
      await loadUntil(load, 2000);
      const counts = await load.stop();
      const stopAt = Date.now();
      unicorn.signal('SIGTERM');
      expect(await unicorn.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - stopAt).toBeLessThan(10_000);
      expect(counts).toMatchObject({ failed: 0, refused: 0 });
      const left = unicorn.logs.filter((l) => l.msg.startsWith('Worker exiting with'));
      expect(left.length).toBeGreaterThan(0);
      for (const line of left)
        expect(line.msg).toMatch(
          /^Worker exiting with \d+ access-log lines? not written to .*access\.fifo \(the pipe is full: its reader does not keep up\)/,
        );
      // What is left in the pipe, to its end: every worker has closed it.
      const ended = once(reader, 'end');
      reader.resume();
      await ended;
      // Whole lines only (each write to a pipe carries whole lines of at most PIPE_BUF, or one line).
      expectWhole(wholeLines(text));
    } finally {
      reader.destroy();
    }
  }, 120_000);

  it('to a file at its size limit (EFBIG), before and after logrotate: no line is torn', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    const socket = path.join(dir, 'ctl.sock');
    // 64 kB and no more for any file the server writes: a write that crosses it is cut short.
    const proc = spawn(
      'prlimit',
      [
        `--fsize=${64 * 1024}`,
        process.execPath,
        BIN,
        '-b',
        '127.0.0.1:0',
        '-w',
        '2',
        '-k',
        'async',
        '--access-logfile',
        file,
        '--control-socket',
        socket,
        ROUTES,
      ],
      {
        env: { ...process.env, UNICORN_LOG_LEVEL: 'debug' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const unicorn = new Unicorn(proc);
    await unicorn.ready(2);
    // Short lines of several lengths: the limit falls inside one.
    const load = await Load.start(`${unicorn.url()}/`, { keepAlive: true, concurrency: 8, pauseMs: 0 });
    await unicorn.waitForLog((l) => l.role === 'worker' && l.msg.startsWith('Cannot write the access log'), 'a write refused at the limit');
    await loadUntil(load, 500);
    renameSync(file, `${file}.1`);
    unicorn.signal('SIGUSR1');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reopened log files') && l.role === 'worker', 'a worker reopening the log');
    await loadUntil(load, 100);
    const counts = await load.stop();
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    const rotated = wholeLines(readFileSync(`${file}.1`, 'utf8'));
    const current = wholeLines(readFileSync(file, 'utf8'));
    expectWhole([...rotated, ...current]);
    expect(rotated.length).toBeGreaterThan(0);
    expect(current.length).toBeGreaterThan(0);
  }, 120_000);
});
