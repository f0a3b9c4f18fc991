/**
 * --workers auto: the CPUs this process may use, from fixture files laid out as /proc and /sys are
 * (cgroup v2 and v1), and the forms --workers and WEB_CONCURRENCY accept.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveSettings } from '../../src/config/settings';
import { cgroupQuota, usableCpus } from '../../src/config/usable-cpus';
import { parseWorkers } from '../../src/config/worker-count';
import { refusal } from '../helpers/refusal';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'unicorn-cgroup-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Files under the fixture root, by path. */
function files(tree: Record<string, string>): void {
  for (const [file, text] of Object.entries(tree)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
}

describe('the CPUs this process may use', () => {
  it('reads a cgroup v2 quota, rounded up, and the smallest along the path', () => {
    files({
      'proc/self/cgroup': '0::/app.slice/web.service\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/app.slice/cpu.max': '250000 100000\n',
      'sys/fs/cgroup/app.slice/web.service/cpu.max': 'max 100000\n',
    });
    expect(cgroupQuota(root)).toBe(2.5);
    expect(usableCpus(root, 8)).toBe(3);
    // Affinity allows fewer than the quota: those.
    expect(usableCpus(root, 2)).toBe(2);
  });

  it('reads a cgroup v1 cfs quota, where the container sees its own cgroup at the mount', () => {
    files({
      'proc/self/cgroup': '4:cpu,cpuacct:/docker/abc123\n3:memory:/docker/abc123\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '50000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupQuota(root)).toBe(0.5);
    // Half a CPU is still one worker.
    expect(usableCpus(root, 16)).toBe(1);
  });

  it('takes the affinity alone where there is no quota or nothing to read', () => {
    files({
      'proc/self/cgroup': '1:cpu:/\n0::/\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
    });
    expect(cgroupQuota(root)).toBeUndefined();
    expect(usableCpus(root, 6)).toBe(6);
    expect(usableCpus(path.join(root, 'nothing-here'), 4)).toBe(4);
  });
});

describe('--workers and WEB_CONCURRENCY', () => {
  it('accept N, MIN:MAX and auto', () => {
    expect(parseWorkers('4')).toEqual({ min: 4, max: 4, by: 'count' });
    expect(parseWorkers('1:4')).toEqual({ min: 1, max: 4, by: 'load' });
    expect(parseWorkers('auto', () => 3)).toEqual({ min: 3, max: 3, by: 'cpus' });
    const { settings } = resolveSettings('app', { workers: '2:5' }, {});
    expect(settings).toMatchObject({ workers: 2, workerBounds: { min: 2, max: 5, by: 'load' } });
    expect(resolveSettings('app', {}, { WEB_CONCURRENCY: 'auto' }).settings.workers).toBe(usableCpus());
    expect(resolveSettings('app', { workers: '0:3', idleTimeout: '5m' }, {}).settings.workers).toBe(1);
  });

  it.each([
    ['0', ''],
    ['4:2', ' (MAX 2 is below MIN 4)'],
    ['0:0', ' (MAX is 0)'],
    ['1-4', ''],
    ['many', ''],
  ])('refuse %s, saying what is accepted', (raw, why) => {
    const forms =
      'a whole number of at least 1, MIN:MAX for a count that follows the load (whole numbers, MAX at least 1 and at least MIN; ' +
      'MIN 0 only with --idle-timeout), or auto (the CPUs this process may use)';
    const message = refusal(() => resolveSettings('app', { workers: raw }, {})).message;
    expect(message).toBe(`--workers ${JSON.stringify(raw)} is not accepted: expected ${forms}${why}`);
  });

  it('refuse a MIN of 0 without --idle-timeout, naming the source', () => {
    expect(refusal(() => resolveSettings('app', {}, { WEB_CONCURRENCY: '0:2' })).message).toBe(
      'WEB_CONCURRENCY "0:2" is not accepted: a minimum of 0 workers needs --idle-timeout (the workers stop when idle and start on ' +
        'the next connection); expected a MIN of at least 1, or --idle-timeout too',
    );
  });
});
