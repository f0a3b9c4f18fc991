/**
 * `unicorn emperor DIR` for tests: a directory of vassal config files under a fresh temporary
 * directory, each vassal serving a hello app on a unix socket there. The emperor is started with
 * `start` (./unicorn.ts), so it and every vassal and worker it logged are killed by pid after each test.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from './http';
import { type LogLine, start, type Unicorn } from './unicorn';

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

export function startEmperor(dir: string, args: string[] = []): Unicorn {
  return start(['emperor', dir, ...args]);
}

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
