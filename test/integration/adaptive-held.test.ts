/**
 * The adaptive worker count with workers that cannot report (docs/elastic.md): one held on the CPU
 * counts as busy and is stopped last; workers still booting hold the next change.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ctl, ctlStats } from '../helpers/ctl';
import { request } from '../helpers/http';
import { Load } from '../helpers/load';
import { scaling, serveWithSocket } from '../helpers/scaling';
import { APPS, start } from '../helpers/unicorn';

describe('a worker that has missed its heartbeat', () => {
  it('counts as busy: the count grows while its event loop is held, and a smaller count stops another worker', async () => {
    // Heartbeats every 5 s (the default --timeout); an async worker held on the CPU sends none, and
    // its last counts (idle, nothing in flight) are from before its request.
    const flags = ['-k', 'async', '-w', '1:3', '--scale-window', '1s', '--scale-cooldown', '1s', '--scale-backlog', '0'];
    const { unicorn, socket } = await serveWithSocket([...flags, '--graceful-timeout', '1s'], 1);
    const [held] = unicorn.lines('Booting worker').map((l) => l.workerPid as number);
    // Held until the checks below are done (25 s at most), then released by this file.
    const release = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-adaptive-')), 'release');
    let answered = false;
    const cpu = request(`${unicorn.url()}/cpu?ms=25000&until=${encodeURIComponent(release)}`, { timeoutMs: 30_000 })
      .catch((err: Error) => err)
      .finally(() => {
        answered = true;
      });
    const grew = await scaling(unicorn, 1, 'busy (0\\.[7-9]\\d|1\\.00) for 1s(, backlog \\d+)?');
    expect(answered).toBe(false);
    await unicorn.ready(grew.workers as number);
    // What the stats say of it, for an autoscaler of pods (it cannot answer ctl's ask: its last heartbeat's counts).
    const stats = await ctlStats(socket);
    expect(stats.workers.find((w) => w.pid === held)?.elu).toBe(1);
    expect((await ctl(['--socket', socket, 'scale', '1'])).stdout).toBe(`1 worker ready (was ${grew.workers})\n`);
    expect(answered).toBe(false);
    writeFileSync(release, '');
    expect(await cpu).toMatchObject({ status: 200, body: `cpu ${held}\n` });
  }, 40_000);
});

describe('workers that are still booting', () => {
  it('hold the next change until they are ready: the load on the others is the one they are to share', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-adaptive-'));
    const flags = ['-k', 'async', '-w', '1:4', '--timeout', '2s', '--scale-window', '1s', '--scale-cooldown', '1s', '--scale-backlog', '0'];
    const app = path.join(APPS, 'slow-later-boots.js');
    const unicorn = start(['-b', '127.0.0.1:0', ...flags, app], { env: { MARKER_DIR: dir, BOOT_MS: '4000' } });
    await unicorn.ready(1);
    const load = await Load.start(`${unicorn.url()}/busy?ms=200`, { keepAlive: false, concurrency: 2, pauseMs: 0 });
    await scaling(unicorn, 1, 'busy (0\\.[7-9]\\d|1\\.00) for 1s(, backlog \\d+)?');
    await unicorn.ready(2);
    const counts = await load.stop();
    expect(counts.failed).toBe(0);
    // Nothing more while the second worker booted, however busy the first stayed.
    expect(unicorn.lines('Scaling ').map((l) => l.msg)).toEqual([expect.stringMatching(/^Scaling 1 → 2 workers: /)]);
  }, 30_000);
});
