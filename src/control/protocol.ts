/**
 * The control socket's protocol, in one place for both sides: the servers (server.ts, for an arbiter
 * and for an emperor) and `unicorn ctl` (client.ts, ctl.ts). One request per connection, one JSON line
 * each way; the reply comes once what was asked is done (docs/ctl.md).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServerStats } from '../hooks/types';
import type { VassalSummary } from '../shared/vassal-summary';

/** Who serves a control socket: a single server's arbiter, or an emperor (`unicorn emperor DIR`). */
export type Role = 'arbiter' | 'emperor';

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

/** What `unicorn ctl` asks an emperor; a vassal is named by its config file's name. */
export type EmperorRequest =
  /** status, stats and vassals: every vassal (EmperorStats). */
  | { command: 'stats' }
  /** One vassal's HUP, or every vassal's without a name. */
  | { command: 'reload'; name?: string }
  /** Stop one vassal gracefully; it stays stopped until `start` or a change of its file. */
  | { command: 'stop'; name: string }
  | { command: 'start'; name: string }
  /** TERM (QUIT when quick) to the emperor: every vassal stops; the connection closes when it has exited. */
  | { command: 'shutdown'; quick: boolean };

export type EmperorCommand = EmperorRequest['command'];

/** An emperor's answer to `stats`. */
export interface EmperorStats {
  pid: number;
  version: string;
  uptime: number;
  vassals: VassalSummary[];
}

export type ControlReply =
  | {
      ok: true;
      /** What was done, for a person. */
      message: string;
      stats?: ServerStats;
      /** An emperor answers `stats` with this instead. */
      emperor?: EmperorStats;
      /** The arbiter is stopping: the connection closes when it has exited. */
      untilExit?: true;
    }
  | { ok: false; error: string };

/** A request line longer than this is refused: every request fits in a few dozen bytes. */
export const MAX_REQUEST_BYTES = 4096;

type Refused = { refused: string };

const ARBITER_COMMANDS: Record<ControlCommand, (r: Record<string, unknown>) => ControlRequest | undefined> = {
  stats: () => ({ command: 'stats' }),
  reload: (r) => (r.name === undefined ? { command: 'reload' } : undefined),
  scale: (r) => (isCount(r.count, 1) ? { command: 'scale', count: r.count } : undefined),
  add: (r) => (isCount(r.count, 1) ? { command: 'add', count: r.count } : undefined),
  remove: (r) => (isCount(r.count, 1) ? { command: 'remove', count: r.count } : undefined),
  kill: (r) => (isCount(r.pid, 1) ? { command: 'kill', pid: r.pid } : undefined),
  'reopen-logs': () => ({ command: 'reopen-logs' }),
  shutdown: (r) => (typeof r.quick === 'boolean' ? { command: 'shutdown', quick: r.quick } : undefined),
};

const EMPEROR_COMMANDS: Record<EmperorCommand, (r: Record<string, unknown>) => EmperorRequest | undefined> = {
  stats: () => ({ command: 'stats' }),
  reload: (r) => (r.name === undefined ? { command: 'reload' } : isName(r.name) ? { command: 'reload', name: r.name } : undefined),
  stop: (r) => (isName(r.name) ? { command: 'stop', name: r.name } : undefined),
  start: (r) => (isName(r.name) ? { command: 'start', name: r.name } : undefined),
  shutdown: (r) => (typeof r.quick === 'boolean' ? { command: 'shutdown', quick: r.quick } : undefined),
};

/** How each role lists its commands in a refusal. */
const USAGE: Record<Role, string> = {
  arbiter: 'stats, reload, scale, add, remove, kill, reopen-logs, shutdown',
  emperor: 'stats, reload [NAME], stop NAME, start NAME, shutdown',
};

const isCount = (value: unknown, min: number): value is number => Number.isSafeInteger(value) && (value as number) >= min;

/** A vassal's name: a file name, so never empty, never a path, and short. */
const isName = (value: unknown): value is string =>
  typeof value === 'string' && value !== '' && value.length <= 255 && !/[/\0\n]/.test(value);

/**
 * Why a command is refused because it is for the other role: `reload NAME` at an arbiter, `scale`
 * at an emperor. Said so that the person sees which server they reached and what it takes.
 */
function otherRolesCommand(role: Role, command: string, request: Record<string, unknown>): string | undefined {
  if (role === 'arbiter' && (command === 'stop' || command === 'start' || (command === 'reload' && request.name !== undefined))) {
    const without = command === 'reload' ? ' (`reload` without a name reloads this one)' : '';
    return (
      `${command} NAME is for an emperor (unicorn emperor DIR), which runs a server per vassal; this is a single server ` +
      `(an arbiter, pid ${process.pid})${without}: its commands are ${USAGE.arbiter}`
    );
  }
  if (role === 'emperor' && Object.hasOwn(ARBITER_COMMANDS, command) && !Object.hasOwn(EMPEROR_COMMANDS, command)) {
    return (
      `${command} is for a single server, and this is an emperor (pid ${process.pid}): send it to a vassal's own control ` +
      `socket with --socket; the emperor's commands are ${USAGE.emperor}`
    );
  }
  return undefined;
}

/** A request line as the server of `role` reads it: the request, or why it is refused. Anyone who
 *  may connect can send anything, so nothing is taken on trust. */
export function parseRequest(line: string, role?: 'arbiter'): ControlRequest | Refused;
export function parseRequest(line: string, role: 'emperor'): EmperorRequest | Refused;
export function parseRequest(line: string, role: Role = 'arbiter'): ControlRequest | EmperorRequest | Refused {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { refused: 'the request is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { refused: 'the request is not a JSON object' };
  const request = value as Record<string, unknown>;
  const { command } = request;
  const commands: Record<string, (r: Record<string, unknown>) => ControlRequest | EmperorRequest | undefined> =
    role === 'arbiter' ? ARBITER_COMMANDS : EMPEROR_COMMANDS;
  const elsewhere = typeof command === 'string' ? otherRolesCommand(role, command, request) : undefined;
  if (elsewhere) return { refused: elsewhere };
  const parse = typeof command === 'string' && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!parse) return { refused: `unknown command ${JSON.stringify(command)}; the commands are ${USAGE[role]}` };
  return parse(request) ?? { refused: `the ${command} request's arguments are not valid: ${line.trim()}` };
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
