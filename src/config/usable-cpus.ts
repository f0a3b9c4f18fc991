/**
 * The CPUs this process may really use, for `--workers auto` (Puma's WEB_CONCURRENCY=auto): those
 * its affinity allows (os.availableParallelism), fewer where a cgroup quota caps its CPU time (a
 * container's --cpus), rounded up, at least one. os.cpus() counts the host's, which in a container
 * would start a worker per host CPU to share a quota of one or two.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function usableCpus(root = '/', affinity: number = os.availableParallelism()): number {
  const quota = cgroupQuota(root);
  return Math.max(1, Math.min(affinity, quota === undefined ? Infinity : Math.ceil(quota)));
}

/** The CPU time this process's cgroups allow, in CPUs (quota ÷ period): the smallest along its
 *  cgroup's path, in cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us); undefined for no quota or none
 *  readable. `root` is where /proc and /sys are (a test gives a directory of fixture files). */
export function cgroupQuota(root = '/'): number | undefined {
  const lines = read(path.join(root, 'proc/self/cgroup'))?.split('\n') ?? [];
  let smallest: number | undefined;
  const take = (cpus: number | undefined) => {
    if (cpus !== undefined && cpus > 0 && (smallest === undefined || cpus < smallest)) smallest = cpus;
  };
  for (const line of lines) {
    // `0::/path` (v2), `4:cpu,cpuacct:/path` (v1).
    const [, controllers, cgroup] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (cgroup === undefined) continue;
    if (controllers === '') {
      for (const dir of along(path.join(root, 'sys/fs/cgroup'), cgroup)) take(v2Quota(dir));
    } else if (controllers!.split(',').includes('cpu')) {
      for (const mount of [controllers!, 'cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
        for (const dir of along(path.join(root, 'sys/fs/cgroup', mount), cgroup)) take(v1Quota(dir));
      }
    }
  }
  return smallest;
}

/** `max 100000` (none) or `200000 100000` (two CPUs). */
function v2Quota(dir: string): number | undefined {
  const [quota, period] = read(path.join(dir, 'cpu.max'))?.trim().split(/\s+/) ?? [];
  return quota === undefined || quota === 'max' ? undefined : Number(quota) / Number(period ?? 100_000);
}

/** cpu.cfs_quota_us is -1 for none. */
function v1Quota(dir: string): number | undefined {
  const quota = Number(read(path.join(dir, 'cpu.cfs_quota_us')));
  const period = Number(read(path.join(dir, 'cpu.cfs_period_us')));
  return quota > 0 && period > 0 ? quota / period : undefined;
}

/** `mount`/`cgroup` and each of its parents up to `mount`: a parent's quota caps its children's.
 *  In a container the path is often the host's while the mount is the container's own cgroup: the
 *  mount itself is then the one read. */
function along(mount: string, cgroup: string): string[] {
  const dirs = [mount];
  const parts = cgroup.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) dirs.push(path.join(mount, ...parts.slice(0, i)));
  return dirs;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
