/**
 * The control socket's protocol, in one place for both sides: the arbiter's server
 * (server.ts) and `unicorn ctl` (client.ts, ctl.ts). One request per connection, one JSON line each way;
 * the reply comes once the arbiter's loop has done what was asked (docs/ctl.md).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServerStats } from '../hooks/types';

/** What `unicorn ctl` asks; each does what the matching signal does (docs/SIGNALS.md). */
export type ControlRequest =
  /** status and stats: the server's state (ServerStats). */
  | { command: 'stats' }
  /** HUP; answered once every new worker is ready, or with why the reload failed. */
  | { command: 'reload' }
  /** Set the worker count; answered once that many workers are ready. */
  | { command: 'scale'; count: number }
  /** TTIN, `count` times. */
  | { command: 'add'; count: number }
  /** TTOU, `count` times (never below one worker). */
  | { command: 'remove'; count: number }
  /** Replace one worker: it serves until its replacement is ready, then stops gracefully. */
  | { command: 'kill'; pid: number }
  /** USR1. */
  | { command: 'reopen-logs' }
  /** TERM, or QUIT when quick; the connection closes when the arbiter exits. */
  | { command: 'shutdown'; quick: boolean };

export type ControlCommand = ControlRequest['command'];

export type ControlReply =
  | {
      ok: true;
      /** What was done, for a person. */
      message: string;
      stats?: ServerStats;
      /** The arbiter is stopping: the connection closes when it has exited. */
      untilExit?: true;
    }
  | { ok: false; error: string };

/** A request line longer than this is refused: every request fits in a few dozen bytes. */
export const MAX_REQUEST_BYTES = 4096;

const COMMANDS: Record<ControlCommand, (r: Record<string, unknown>) => ControlRequest | undefined> = {
  stats: () => ({ command: 'stats' }),
  reload: () => ({ command: 'reload' }),
  scale: (r) => (isCount(r.count, 1) ? { command: 'scale', count: r.count } : undefined),
  add: (r) => (isCount(r.count, 1) ? { command: 'add', count: r.count } : undefined),
  remove: (r) => (isCount(r.count, 1) ? { command: 'remove', count: r.count } : undefined),
  kill: (r) => (isCount(r.pid, 1) ? { command: 'kill', pid: r.pid } : undefined),
  'reopen-logs': () => ({ command: 'reopen-logs' }),
  shutdown: (r) => (typeof r.quick === 'boolean' ? { command: 'shutdown', quick: r.quick } : undefined),
};

const isCount = (value: unknown, min: number): value is number => Number.isSafeInteger(value) && (value as number) >= min;

/** A request line as the arbiter reads it: the request, or why it is refused. Anyone who may
 *  connect can send anything, so nothing is taken on trust. */
export function parseRequest(line: string): ControlRequest | { refused: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { refused: 'the request is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { refused: 'the request is not a JSON object' };
  const { command } = value as { command?: unknown };
  const parse = typeof command === 'string' && Object.hasOwn(COMMANDS, command) ? COMMANDS[command as ControlCommand] : undefined;
  if (!parse) return { refused: `unknown command ${JSON.stringify(command)}; the commands are ${Object.keys(COMMANDS).join(', ')}` };
  return parse(value as Record<string, unknown>) ?? { refused: `the ${command} request's arguments are not valid: ${line.trim()}` };
}

/** The pid a default socket's name carries, if `file` is one. */
export function pidOfSocketName(file: string): number | undefined {
  const match = /^([1-9]\d*)\.sock$/.exec(path.basename(file));
  return match ? Number(match[1]) : undefined;
}

/**
 * Check the default directory is private to this user, creating it (mode 0700) if `create`. Returns
 * why not, or undefined: a directory others can write to could hold a socket planted to answer in
 * the server's place. Not found and not creating: 'missing'.
 */
export function checkPrivateDir(dir: string, create: boolean, uid = process.getuid?.()): string | 'missing' | undefined {
  if (create) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST')
        return `cannot create ${dir}: ${code === 'ENOENT' ? `no such directory ${path.dirname(dir)}` : (err as Error).message}`;
    }
  }
  const stat = lstatSync(dir, { throwIfNoEntry: false });
  if (!stat) return 'missing';
  if (!stat.isDirectory()) return `${dir} is not a directory${stat.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
  if (uid !== undefined && stat.uid !== uid) return `${dir} belongs to uid ${stat.uid}, not to this user (uid ${uid})`;
  if ((stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    const who = [stat.mode & 0o020 ? 'its group' : '', stat.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    return `${dir} is writable by ${who} (mode ${mode}); expected mode 0700 (chmod 700 ${dir})`;
  }
  return undefined;
}
