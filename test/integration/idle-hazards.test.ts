/**
 * Scale to zero (--idle-timeout) under conditions that the arbiter, accepting while no worker
 * runs, meets as a worker does: few file descriptors left, and a new arbiter (USR2) serving on the
 * same sockets.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { APPS, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/** Failed requests by cause, of `count` sent at once, each on a connection of its own. */
async function burst(url: string, count: number, path = '/slow?ms=5'): Promise<Record<string, number>> {
  const failed: Record<string, number> = {};
  const fail = (why: string) => (failed[why] = (failed[why] ?? 0) + 1);
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(`${url}${path}`, { agent: false, timeout: 20_000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : resolve(void fail(String(res.statusCode)))));
        res.on('error', (err: NodeJS.ErrnoException) => resolve(void fail(err.code ?? err.message)));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(void fail(err.code ?? err.message)));
    });
  await Promise.all(Array.from({ length: count }, one));
  return failed;
}

/** Start with --idle-timeout 300ms and wait for the idle stop, with no worker left. */
async function idling(args: string[], openFiles?: number): Promise<Unicorn> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-idle-'));
  const unicorn = start(['-b', '127.0.0.1:0', '--idle-timeout', '300ms', '--control-socket', path.join(dir, 'ctl.sock'), ...args, ROUTES], {
    openFiles,
  });
  await unicorn.ready(1);
  await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
  const booted = unicorn.lines('Booting worker with pid').map((line) => line.workerPid as number);
  expect(await waitUntilGone(booted)).toEqual([]);
  return unicorn;
}

describe.each(['sync', 'async'])('--idle-timeout with the %s worker class', (workerClass) => {
  it('under ulimit -n 80, 150 clients arriving at once while idle are all served: the arbiter stops accepting before its descriptors run out', async () => {
    const unicorn = await idling(['-w', '1', '-k', workerClass], 80);
    expect(await burst(unicorn.url(), 150)).toEqual({});
    expect(unicorn.lines('Waking: ').length).toBe(1);
    // The arbiter said so once; a worker may say so too, of its own accepting.
    expect(unicorn.lines('Out of file descriptors').filter((l) => l.role === 'arbiter')).toHaveLength(1);
  }, 40_000);
});

describe('--idle-timeout and USR2', () => {
  it('an idle arbiter replaced by USR2 leaves the sockets to the new one: it wakes for nothing, and its TERM resets no client', async () => {
    const unicorn = await idling(['-w', '2']);
    unicorn.signal('SIGUSR2');
    const successor = (await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec')).successorPid as number;
    await unicorn.waitForLog((l) => l.pid === successor && /^Worker \(pid:\d+\) ready$/.test(l.msg), 'the new arbiter’s worker');
    // The upgrade's second step: the old arbiter stops its workers (it has none).
    unicorn.signal('SIGWINCH');
    await unicorn.waitForLog((l) => l.pid === unicorn.pid && l.msg === 'Handling signal: winch', 'the WINCH');
    const wokeOld = () => unicorn.lines('Waking: ').filter((l) => l.pid === unicorn.pid).length;
    const clients = burst(unicorn.url(), 60, '/slow?ms=50');
    // The upgrade's third step, while the clients are served (or the old arbiter wakes for them).
    await unicorn.waitForLog(() => wokeOld() > 0 || unicorn.stdout.includes('slow started'), 'the first request');
    unicorn.signal('SIGTERM');
    expect(await clients).toEqual({});
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(wokeOld()).toBe(0);
  }, 40_000);
});
