/**
 * Start the real `bin/unicorn` as a process and observe it through its log lines (JSON on stderr).
 * Every process started here is killed by pid after each test, pass or fail (see ./cleanup.ts).
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'unicorn');
export const APPS = path.join(ROOT, 'test', 'fixtures', 'apps');
/** Request limits small enough for a test to cross each with a few bytes: line, fields, field, body. */
export const SMALL_REQUEST_LIMITS = [
  '--limit-request-line',
  '100',
  '--limit-request-fields',
  '5',
  '--limit-request-field-size',
  '50',
  '--limit-request-body',
  '1K',
];

export interface LogLine {
  level: string;
  msg: string;
  pid: number;
  role: 'arbiter' | 'worker' | 'emperor';
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<Unicorn>();

export class Unicorn {
  readonly logs: LogLine[] = [];
  stderr = '';
  stdout = '';
  readonly exited: Promise<Exit>;
  /** Resolves when stderr closes: the arbiter and every worker (they share it) are gone. */
  readonly outputClosed: Promise<void>;
  private readonly waiters = new Set<() => void>();
  /** stderr has closed: nothing more will be logged (an arbiter started by USR2 shares it). */
  private closed = false;

  constructor(readonly proc: ChildProcess) {
    running.add(this);
    let partial = '';
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line (a refusal on stderr); kept in `stderr`.
        }
      }
      for (const wake of this.waiters) wake();
    });
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      for (const wake of this.waiters) wake();
    });
    this.outputClosed = new Promise((resolve) =>
      proc.stderr!.once('close', () => {
        this.closed = true;
        for (const wake of this.waiters) wake();
        resolve();
      }),
    );
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Wait until a log line matches, or fail with the whole log after `timeoutMs` (hangs only). */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs.find(match);
        if (found) return done(() => resolve(found));
        if (this.closed) {
          done(() => reject(new Error(`unicorn exited before logging ${what}:\n${this.stderr}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${what}:\n${this.stderr}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Wait until the processes' stdout (the app's own output) contains `text`. */
  waitForOutput(text: string, timeoutMs = 15_000): Promise<void> {
    return this.waitForLog(() => this.stdout.includes(text), `${JSON.stringify(text)} on stdout`, timeoutMs).then(() => undefined);
  }

  /** Lines whose message starts with `prefix`. */
  lines(prefix: string): LogLine[] {
    return this.logs.filter((line) => line.msg.startsWith(prefix));
  }

  /** Why workers could not boot, as the arbiter logs it (once per reason and generation). */
  bootFailures(): LogLine[] {
    return this.logs.filter(
      (l) => l.role === 'arbiter' && l.level === 'error' && typeof l.workerPid === 'number' && typeof l.code === 'string',
    );
  }

  /** Wait until `count` workers have said they are ready (counting from the start). */
  async ready(count: number): Promise<void> {
    await this.waitForLog(
      () => this.lines('Worker (pid:').filter((l) => l.msg.endsWith(' ready')).length >= count,
      `${count} ready workers`,
    );
  }

  /** The listening addresses, in the order of the --bind flags. */
  addresses(): string[] {
    return this.lines('Listening at: ').map((line) => line.address as string);
  }

  /** The first TCP address as a base URL. */
  url(): string {
    const url = this.addresses().find((a) => a.startsWith('http://'));
    if (!url) throw new Error(`no TCP listener in:\n${this.stderr}`);
    return url;
  }

  /** Pids of the arbiter's live child processes, read from /proc. */
  workerPids(): number[] {
    return childPids(this.pid);
  }

  /** Every pid this run has logged or has as a child, including arbiters started by USR2 and
   *  their workers: what cleanup kills. */
  allPids(): number[] {
    const logged = this.logs
      .flatMap((line) => [line.pid, line.workerPid, line.successorPid, line.reaperPid, line.vassalPid])
      .filter((pid): pid is number => typeof pid === 'number');
    const pids = new Set([this.pid, ...logged]);
    // Every descendant (a Set's loop visits what is added to it meanwhile): a server started through
    // npx is its grandchild.
    for (const pid of pids) for (const child of childPids(pid)) pids.add(child);
    return [...pids];
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** Kill the arbiter and every worker it had, by pid. */
  async kill(): Promise<void> {
    for (const pid of this.allPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await this.exited;
    running.delete(this);
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdio?: StdioOptions;
  /** Run as this uid and gid instead (the tests run as root): see `asUser`. */
  uid?: number;
  /** Start under this open-file limit (`ulimit -n`), which the workers inherit. */
  openFiles?: number;
}

/** The unprivileged user and group (nobody, nogroup) tests run unicorn as to meet a refusal. */
export const NOBODY = 65534;

/**
 * The command line of a unicorn that drops to `uid` before it runs: what bin/unicorn runs, with its
 * code loaded first and only then setgroups, setgid and setuid (the checkout, and the Node running
 * the tests, may be where that user cannot read, such as a 0700 temporary directory or /root).
 */
function asUser(uid: number, args: string[]): string[] {
  const cli = path.join(ROOT, 'dist', 'src', 'cli.js');
  const script =
    `const cli = require(${JSON.stringify(cli)}); process.setgroups([${uid}]); process.setgid(${uid}); process.setuid(${uid}); ` +
    `cli.main([process.execPath, ${JSON.stringify(BIN)}, ...${JSON.stringify(args)}]);`;
  return ['-e', script];
}

/** Start `bin/unicorn ARGS` with the Node running the tests. */
export function start(args: string[], options: StartOptions = {}): Unicorn {
  const env: NodeJS.ProcessEnv = { ...process.env, UNICORN_LOG_LEVEL: 'debug', ...options.env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  const command = [process.execPath, ...(options.uid === undefined ? [BIN, ...args] : asUser(options.uid, args))];
  // The shell sets the limit and replaces itself with Node: the pid is unicorn's.
  if (options.openFiles !== undefined) command.unshift('/bin/sh', '-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`);
  const proc = spawn(command[0]!, command.slice(1), {
    cwd: options.cwd ?? ROOT,
    env,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  return new Unicorn(proc);
}

/** Start on an ephemeral port and wait until `workers` workers are ready. */
export async function serve(app: string, args: string[] = [], options: StartOptions & { workers?: number } = {}): Promise<Unicorn> {
  const workers = options.workers ?? 1;
  const unicorn = start(['-b', '127.0.0.1:0', '-w', String(workers), ...args, app], options);
  await unicorn.ready(workers);
  return unicorn;
}

/** Run unicorn to completion (for refusals): exit code and stderr. */
export async function runToExit(args: string[], options: StartOptions = {}): Promise<Exit & { stderr: string; unicorn: Unicorn }> {
  const unicorn = start(args, options);
  const exit = await unicorn.exited;
  running.delete(unicorn);
  return { ...exit, stderr: unicorn.stderr, unicorn };
}

export async function killAll(): Promise<void> {
  await Promise.all([...running].map((unicorn) => unicorn.kill()));
}

/** A process's state letter and parent pid from /proc, or undefined once it is gone. */
function procStat(pid: number | string): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses: state, ppid, ...
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined; // it ended while we looked
  }
}

/** Running, not gone and not a zombie (an orphaned worker may wait to be reaped). */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/**
 * Wait until none of `pids` is alive. A process that is not our child gives no event when it ends,
 * and closing its output (the last thing it does that we can see) comes a moment before it is gone:
 * so /proc is polled, briefly, with a bound that only catches hangs.
 */
export async function waitUntilGone(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return pids.filter(isAlive);
}

/** A process's resident memory now, in bytes, from /proc; undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function childPids(parent: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      const stat = procStat(entry);
      return stat?.ppid === parent && stat.state !== 'Z';
    })
    .map(Number);
}
