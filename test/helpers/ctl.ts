/**
 * `unicorn ctl` run to its end as a test reads it: the exit code and everything it printed, and a
 * server's stats as `ctl stats --json` gives them.
 */
import { once } from 'node:events';
import type { ServerStats } from '../../src/hooks/types';
import { runToExit, type StartOptions } from './unicorn';

export interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `unicorn ctl ARGS` to completion, with everything it printed. */
export async function ctl(args: string[], options: StartOptions = {}): Promise<CtlRun> {
  const { code, unicorn } = await runToExit(['ctl', ...args], options);
  // Both streams once they have closed: a process's exit event can come before its last output.
  const stdout = unicorn.proc.stdout!;
  if (!stdout.closed) await once(stdout, 'close');
  await unicorn.outputClosed;
  return { code, stdout: unicorn.stdout, stderr: unicorn.stderr };
}

/** The stats of the server whose control socket is `socket`; throws unless ctl succeeds quietly. */
export async function ctlStats(socket: string): Promise<ServerStats> {
  const run = await ctl(['--socket', socket, 'stats', '--json']);
  if (run.code !== 0 || run.stderr !== '') throw new Error(`unicorn ctl stats --json exited with ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as ServerStats;
}
