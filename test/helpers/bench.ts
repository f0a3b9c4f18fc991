/**
 * The benchmark suite run by a test: benchmarks/run.js (or another of its scripts) as a child, its
 * output collected. Each run is stopped when the test ends, pass or fail: SIGTERM first, on which
 * the suite stops the servers it started (their own process groups); if it has not exited within
 * 15 s, it, those groups and every process under it are killed by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { childPids, ROOT } from './unicorn';

export const BENCH_RUN = path.join(ROOT, 'benchmarks', 'run.js');
const running = new Set<ChildProcess>();

export interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `script` (benchmarks/run.js) with `args`; resolves once it has exited. */
export function bench(args: string[], { script = BENCH_RUN, env = process.env }: { script?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise<BenchRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Kill a process and, if it leads one, its process group. */
function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone, or not a group leader
    }
  }
}

/** Stop every run still going (for afterEach). */
export async function stopBenchRuns(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            for (const pid of childPids(child.pid!)) killGroup(pid);
            child.kill('SIGKILL');
          }, 15_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  running.clear();
}
