/**
 * The adaptive worker count against real servers (docs/elastic.md): --workers MIN:MAX grows under
 * CPU-bound load and shrinks after it, saying why; a smaller count stops the idlest worker, not
 * one with a request in flight; TTIN, TTOU and ctl scale stay within the bounds; --workers auto and
 * the refusal of MIN 0 without --idle-timeout.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { usableCpus } from '../../src/config/usable-cpus';
import { ctl, ctlStats } from '../helpers/ctl';
import { request } from '../helpers/http';
import { Load } from '../helpers/load';
import { scaling, serveWithSocket } from '../helpers/scaling';
import { APPS, ROOT, runToExit } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

describe('--workers MIN:MAX', () => {
  it('grows under CPU-bound load, saying why, and shrinks once it stops, with no request failed', async () => {
    // Heartbeats every second (--timeout 2s): the utilisation is read within seconds.
    const windows = ['--timeout', '2s', '--scale-window', '2s', '--scale-cooldown', '2s', '--scale-down-after', '3s'];
    const hookLog = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-adaptive-')), 'hooks.log');
    const hooks = ['-c', path.join(ROOT, 'test', 'fixtures', 'config', 'record-hooks.mjs')];
    const { unicorn, socket } = await serveWithSocket(['-w', '1:3', ...windows, ...hooks], 1, { HOOK_LOG: hookLog });
    const load = await Load.start(`${unicorn.url()}/cpu?ms=20`, { keepAlive: false, concurrency: 4, pauseMs: 0 });
    const grew = await scaling(unicorn, 1, 'busy (0\\.[7-9]\\d|1\\.00) for 2s(, backlog \\d+)?');
    const grownTo = grew.workers as number;
    await unicorn.ready(grownTo);
    // nworkersChanged hears of it as of any other change.
    expect(readFileSync(hookLog, 'utf8')).toContain(`nworkersChanged ${grownTo} 1\n`);
    const status = await ctl(['--socket', socket, 'status']);
    expect(status.stdout).toMatch(/Scaling: workers [23] \(1:3, by load\); last change \S+ ago: [12] → [23], busy /);
    const counts = await load.stop();
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.failed).toBe(0);
    const shrink = /^Scaling [23] → [12] workers?: busy 0\.([0-2]\d|30) for 3s(, backlog 0)?$/;
    const shrank = await unicorn.waitForLog((l) => shrink.test(l.msg), 'a shrink', 30_000);
    const stats = await ctlStats(socket);
    expect(stats.scaling).toMatchObject({ min: 1, max: 3 });
    expect(stats.scaling!.changes.up).toBeGreaterThanOrEqual(1);
    expect(stats.scaling!.changes.down).toBeGreaterThanOrEqual(1);
    expect(shrank.workers).toBeLessThan(shrank.was as number);
    expect(stats.exits.crash + stats.exits.timeout).toBe(0);
  }, 60_000);

  it('keeps TTIN, TTOU and ctl scale within the bounds, and says so', async () => {
    const { unicorn, socket } = await serveWithSocket(['-w', '2:3'], 2);
    expect(await ctl(['--socket', socket, 'scale', '5'])).toEqual({
      code: 0,
      stdout: '3 workers ready (was 2); 5 is outside --workers 2:3, so 3\n',
      stderr: '',
    });
    unicorn.signal('SIGTTIN');
    await unicorn.waitForLog((l) => l.msg === 'add 1: 4 is outside --workers 2:3, so 3', 'TTIN kept at MAX');
    unicorn.signal('SIGTTOU');
    await unicorn.waitForLog((l) => l.msg === 'Number of workers: 2 (was 3)', 'TTOU');
    unicorn.signal('SIGTTOU');
    await unicorn.waitForLog((l) => l.msg === 'remove 1: 1 is outside --workers 2:3, so 2', 'TTOU kept at MIN');
    const stats = await ctlStats(socket);
    expect(stats.workerCount).toBe(2);
    expect(stats.scaling).toMatchObject({ min: 2, max: 3, changes: { up: 0, down: 0 }, last: { from: 3, to: 2, reason: 'set by hand' } });
    expect((await ctl(['--socket', socket, 'status'])).stdout).toMatch(
      /Scaling: workers 2 \(2:3, by load\); last change \S+ ago: 3 → 2, set by hand/,
    );
  });

  it('keeps the running count across a reload, where a fixed count would be reset to the one given', async () => {
    const { socket } = await serveWithSocket(['-w', '1:3'], 1);
    expect((await ctl(['--socket', socket, 'scale', '2'])).stdout).toBe('2 workers ready (was 1)\n');
    const reload = await ctl(['--socket', socket, 'reload']);
    expect(reload.stdout).toBe('Reload complete: 2 new workers ready; stopping 2 previous workers\n');
    expect((await ctlStats(socket)).workerCount).toBe(2);
  });

  it('refuses a MIN of 0 without --idle-timeout, naming the value and what is accepted', async () => {
    const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '-w', '0:2', ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      '--workers "0:2" is not accepted: a minimum of 0 workers needs --idle-timeout (the workers stop when idle and start on the next ' +
        'connection); expected a MIN of at least 1, or --idle-timeout too',
    );
    expect(stderr).not.toMatch(/\n\s+at /);
  });
  it.each([
    [['--scale-up-at', '0'], '--scale-up-at "0" is not accepted: expected a number above 0, up to 1 (a share of the time, such as 0.7)'],
    [
      ['--scale-window', '0'],
      '--scale-window "0" is not accepted: expected a duration above 0, such as 30s, 2m or 500ms, or a number of seconds',
    ],
  ])('refuses %j, which would add workers with no load or never, in one line', async (flags, expected) => {
    const { code, stderr, unicorn } = await runToExit(['--check-config', '-w', '1:3', ...flags, ROUTES]);
    expect(unicorn.stdout).toBe('');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([`unicorn: error: ${expected}`]);
  });
});

describe('a smaller count', () => {
  it('stops the idlest worker, not the oldest one with a request in flight, which finishes it', async () => {
    // A graceful timeout shorter than the request: stopping its worker would cut the request off.
    const { unicorn, socket } = await serveWithSocket(['-w', '1', '--graceful-timeout', '1s'], 1);
    const [busy] = unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    // In flight until the stopped worker is known (20 s at most), then released by this file.
    const release = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-adaptive-')), 'release');
    const slow = request(`${unicorn.url()}/slow?ms=20000&until=${encodeURIComponent(release)}`, { timeoutMs: 30_000 }).catch(
      (err: Error) => err,
    );
    await unicorn.waitForOutput(`slow started ${busy}\n`);
    expect((await ctl(['--socket', socket, 'scale', '3'])).stdout).toBe('3 workers ready (was 1)\n');
    // No `ctl stats` first: the busy worker's last heartbeat, from before its request, said idle.
    expect((await ctl(['--socket', socket, 'scale', '2'])).stdout).toBe('2 workers ready (was 3)\n');
    const exiting = await unicorn.waitForLog((l) => /^Worker exiting \(pid: \d+\)$/.test(l.msg), 'a worker stopping');
    writeFileSync(release, '');
    const reply = await slow;
    expect(reply).not.toBeInstanceOf(Error);
    expect(reply).toMatchObject({ status: 200, body: `slow ${busy}\n` });
    expect(exiting.pid).not.toBe(busy);
  });
});

describe('--workers auto', () => {
  it('starts one worker per CPU this process may use, and --print-config says so', async () => {
    const cpus = usableCpus();
    const printed = await runToExit(['--print-config', '-w', 'auto', ROUTES]);
    expect(printed.unicorn.stdout).toMatch(new RegExp(`^workers +auto \\(${cpus}\\) +--workers$`, 'm'));
    const { socket } = await serveWithSocket(['-w', 'auto'], cpus);
    const stats = await ctlStats(socket);
    expect(stats.workerCount).toBe(cpus);
    expect(stats.scaling).toBeNull();
  });
});
