/**
 * `unicorn emperor DIR` for tests: a directory of vassal config files under a fresh temporary
 * directory, each vassal serving a hello app on a unix socket there. The emperor is started with
 * `start` (./unicorn.ts), so it and every vassal and worker it logged are killed by pid after each test.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { VassalSummary } from '../../src/shared/vassal-summary';
import { ctl } from './ctl';
import { request } from './http';
import { type LogLine, type StartOptions, start, type Unicorn } from './unicorn';

/** Answers with the vassal's name (from its environment) and the worker's pid. */
const HELLO_APP = "module.exports = (req, res) => res.end(process.env.UNICORN_VASSAL + ' ' + process.pid + '\\n');\n";

export interface VassalDir {
  /** The directory the emperor watches. */
  dir: string;
  /** Where the vassals' sockets go (`unix:${sockets}/%n.sock`). */
  sockets: string;
  /** The socket vassal `name` binds with the default config. */
  socket(name: string): string;
  /** Write `NAME.config.json` (`config` merged over the default: the hello app on `%n`'s socket). */
  write(name: string, config?: Record<string, unknown>): string;
}

export function vassalDir(): VassalDir {
  const root = mkdtempSync(path.join(tmpdir(), 'unicorn-emperor-'));
  const dir = path.join(root, 'vassals');
  const sockets = path.join(root, 'sockets');
  mkdirSync(dir);
  mkdirSync(sockets);
  writeFileSync(path.join(dir, 'hello.js'), HELLO_APP);
  return {
    dir,
    sockets,
    socket: (name) => path.join(sockets, `${name}.sock`),
    write(name, config = {}) {
      const file = path.join(dir, `${name}.config.json`);
      writeFileSync(file, JSON.stringify({ bind: `unix:${sockets}/%n.sock`, app: 'hello.js', workers: 1, ...config }));
      return file;
    },
  };
}

export function startEmperor(dir: string, args: string[] = [], options: StartOptions = {}): Unicorn {
  return start(['emperor', dir, ...args], options);
}

/** The vassals as `unicorn ctl --socket SOCKET vassals --json` lists them; throws unless ctl succeeds. */
export async function listVassals(socket: string): Promise<VassalSummary[]> {
  const run = await ctl(['--socket', socket, 'vassals', '--json']);
  if (run.code !== 0) throw new Error(`unicorn ctl vassals --json exited with ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as VassalSummary[];
}

/** Ask ctl until vassal `name` is listed as `matches` accepts, or fail after `timeoutMs` (hangs only). */
export async function waitForListed(
  socket: string,
  name: string,
  matches: (vassal: VassalSummary) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<VassalSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const vassal = (await listVassals(socket)).find((v) => v.name === name);
    if (vassal && matches(vassal)) return vassal;
    if (Date.now() > deadline) throw new Error(`vassal ${name} was not ${what} within ${timeoutMs} ms: ${JSON.stringify(vassal)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How many times the emperor has started vassal `name`. */
export const starts = (emperor: Unicorn, name: string): number => emperor.lines(`Vassal ${name} started`).length;

/** What vassal `name` reported (src/vassal-ipc.ts), as the emperor logs each message at debug level. */
export const reports = (emperor: Unicorn, name: string) =>
  emperor.logs
    .filter((l) => aboutVassal(name)(l) && l.msg === `Vassal ${name}: unicorn:vassal-report`)
    .map((l) => l.message as { state: string; workers: number; rss: number; requests: number; lastRequestAt: number | null });

/** The emperor's own lines about vassal `name`. */
export const aboutVassal = (name: string) => (line: LogLine) => line.role === 'emperor' && line.vassal === name;

/** Ask vassal `name` through its socket: its name and the worker's pid. */
export async function ask(socket: string): Promise<{ name: string; pid: number }> {
  const reply = await request('http://localhost/', { socketPath: socket });
  const [name, pid] = reply.body.trim().split(' ');
  return { name: name!, pid: Number(pid) };
}

/** Wait until `socket` answers (its vassal has a worker ready), or fail after `timeoutMs` (hangs only). */
export async function waitForAnswer(socket: string, timeoutMs = 15_000): Promise<{ name: string; pid: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (existsSync(socket)) return await ask(socket);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`${socket} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pid of vassal `name`'s latest process, as the emperor logged its start. */
export function vassalPid(emperor: Unicorn, name: string): number {
  const started = emperor.logs.filter((l) => aboutVassal(name)(l) && l.msg.startsWith(`Vassal ${name} started`));
  if (started.length === 0) throw new Error(`vassal ${name} was not started:\n${emperor.stderr}`);
  return started[started.length - 1]!.vassalPid as number;
}
