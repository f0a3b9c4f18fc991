/**
 * Scale to zero (--idle-timeout) under conditions that the arbiter, accepting while no worker
 * runs, meets as a worker does: few file descriptors left, and a stop while the workers start.
 */
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { APPS, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const SUPERVISED = path.join(APPS, 'supervised.mjs');

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
async function idling(args: string[], options: { openFiles?: number; app?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Unicorn> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-idle-'));
  const { openFiles, app = ROUTES, env } = options;
  const bind = ['-b', '127.0.0.1:0', '--idle-timeout', '300ms', '--control-socket', path.join(dir, 'ctl.sock')];
  const unicorn = start([...bind, ...args, app], { openFiles, env });
  await unicorn.ready(1);
  await unicorn.waitForLog((l) => l.msg.startsWith('Idle for 300ms'), 'the idle stop');
  const booted = unicorn.lines('Booting worker with pid').map((line) => line.workerPid as number);
  expect(await waitUntilGone(booted)).toEqual([]);
  return unicorn;
}

describe.each(['sync', 'async'])('--idle-timeout with the %s worker class', (workerClass) => {
  it('under ulimit -n 80, 150 clients arriving at once while idle are all served: the arbiter stops accepting before its descriptors run out', async () => {
    const unicorn = await idling(['-w', '1', '-k', workerClass], { openFiles: 80 });
    expect(await burst(unicorn.url(), 150)).toEqual({});
    expect(unicorn.lines('Waking: ').length).toBe(1);
    // The arbiter said so once; a worker may say so too, of its own accepting.
    expect(unicorn.lines('Out of file descriptors').filter((l) => l.role === 'arbiter')).toHaveLength(1);
  }, 40_000);
});

describe.each(['sync', 'async'])('--idle-timeout with the %s worker class, stopped while waking', (workerClass) => {
  it('TERM while the workers start serves the connections the arbiter holds, then exits 0', async () => {
    // Each worker takes 1 s to load: the TERM comes while they start.
    const unicorn = await idling(['-w', '2', '-k', workerClass], { app: SUPERVISED, env: { BOOT_WAIT_MS: '1000' } });
    const clients = burst(unicorn.url(), 10, '/');
    await unicorn.waitForLog((l) => l.msg.startsWith('Waking: '), 'the wake-up');
    unicorn.signal('SIGTERM');
    expect(await clients).toEqual({});
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
  }, 40_000);
});
