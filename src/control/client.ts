/**
 * `unicorn ctl`'s side of the control socket: finding the server's socket, sending one request and
 * reading the reply, and saying plainly why when there is no server to talk to.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ServerStats } from '../hooks/types';
import { cannotEnter } from '../shared/dir-access';
import { ExitCode } from '../shared/exit-codes';
import { defaultControlDir } from './paths';
import { type ControlReply, type ControlRequest, checkPrivateDir, type EmperorRequest, type EmperorStats } from './protocol';

/** A refusal or failure `unicorn ctl` ends with: one line on stderr, and its exit code. */
export class CtlError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.ERROR,
  ) {
    super(message);
    this.name = 'CtlError';
  }
}

export interface AskOptions {
  /** Give up when no reply has come by then; replies that wait for the loop have none. */
  timeoutMs?: number;
  /** The reply, as soon as it comes (`shutdown`'s, before the arbiter has exited). */
  onReply?: (reply: ControlReply) => void;
}

/**
 * Send `request` to the server at `file`; resolves with its reply once the server has closed the
 * connection, which for `shutdown` is when the arbiter has exited.
 */
export function ask(file: string, request: ControlRequest | EmperorRequest, options: AskOptions = {}): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(file);
    let buffered = '';
    let reply: ControlReply | undefined;
    socket.setEncoding('utf8');
    if (options.timeoutMs) {
      socket.setTimeout(options.timeoutMs, () => {
        socket.destroy();
        if (!reply) reject(new CtlError(`the server at ${file} did not answer within ${options.timeoutMs! / 1000}s`));
      });
    }
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (reply || end === -1) return;
      socket.setTimeout(0);
      try {
        reply = JSON.parse(buffered.slice(0, end)) as ControlReply;
      } catch {
        socket.destroy();
        reject(new CtlError(`the server at ${file} answered with something that is not JSON: ${buffered.slice(0, 200)}`));
        return;
      }
      options.onReply?.(reply);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // After the reply, a reset is the arbiter exiting as much as a close is.
      if (reply) resolve(reply);
      else reject(connectError(file, err));
    });
    socket.on('close', () => {
      if (reply) resolve(reply);
      else reject(new CtlError(`the server at ${file} closed the connection without answering`));
    });
  });
}

/** Why there is no server to talk to at `file`, said so that a person can act on it. */
function connectError(file: string, err: NodeJS.ErrnoException): CtlError {
  switch (err.code) {
    case 'ENOENT':
      return new CtlError(`no unicorn server at ${file}: no such socket`);
    case 'ECONNREFUSED': {
      // Linux refuses a connection to a file that is not a socket as it does to a dead socket.
      const kind = notASocket(file);
      if (kind) return new CtlError(`no unicorn server at ${file}: it is not a socket (${kind})`);
      return new CtlError(`no unicorn server at ${file}: nothing listens on it (the server that made it has exited)`);
    }
    case 'EACCES':
    case 'EPERM': {
      const blocked = cannotEnter(path.dirname(file), '--socket');
      if (blocked) return new CtlError(`cannot reach ${file}: ${blocked}`);
      const owner = statSync(file, { throwIfNoEntry: false })?.uid;
      const whose = owner === undefined ? '' : `; it belongs to uid ${owner}`;
      return new CtlError(
        `permission denied for ${file}: a control socket is for the user the server runs as (mode 0600)${whose}, and this is uid ${process.getuid?.()}`,
      );
    }
    case 'ENOTSOCK':
      return new CtlError(`no unicorn server at ${file}: it is not a socket`);
    default:
      return new CtlError(`cannot connect to ${file}: ${err.message}`);
  }
}

/** What `file` is when it exists and is not a socket: `a regular file`, `a directory`. */
function notASocket(file: string): string | undefined {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat || stat.isSocket()) return undefined;
  return stat.isFile() ? 'a regular file' : stat.isDirectory() ? 'a directory' : stat.isFIFO() ? 'a named pipe' : 'a device file';
}

/** How long discovery waits for each socket in the default directory to answer. */
const DISCOVERY_TIMEOUT_MS = 2000;

/**
 * The control socket of the one server running with its socket in the default directory: an arbiter
 * or an emperor; an emperor's vassals are its, not servers of their own. Refuses when there is none;
 * when there are several, listing them for --socket; and when the one there may not be the caller's
 * (its socket belongs to another user, or the name leads outside the directory): talking to it
 * unasked could reload or stop someone else's server.
 */
export async function findServer(env: NodeJS.ProcessEnv): Promise<string> {
  const dir = defaultControlDir(env);
  const hint = 'a server started with --control-socket PATH is reached with --socket PATH';
  const problem = checkPrivateDir(dir, false);
  if (problem === 'missing') throw new CtlError(`no unicorn server found: ${dir} does not exist (${hint})`);
  if (problem) throw new CtlError(`not looking for servers in ${dir}: ${problem}`);
  const sockets = readdirSync(dir)
    .filter((name) => name.endsWith('.sock'))
    .map((name) => path.join(dir, name));
  const answered = (await Promise.all(sockets.map((file) => statsAt(file)))).filter((found) => found !== undefined);
  const vassals = new Set(answered.flatMap((found) => found.vassalPids));
  const live = answered
    .filter((found) => !vassals.has(found.stats.pid))
    // A server reached under two names (a link to its socket) is one server.
    .filter((found, i, all) => all.findIndex((other) => other!.stats.pid === found.stats.pid) === i)
    .map((found) => ({ ...found, notYours: notYours(found.file, dir) }))
    .sort((a, b) => a.stats.pid - b.stats.pid);
  if (live.length === 1 && !live[0]!.notYours) return live[0]!.file;
  if (live.length === 0) throw new CtlError(`no unicorn server found in ${dir}: no server listens on a socket there (${hint})`);
  const list = live.map(
    ({ file, stats, notYours }) =>
      `  ${file}  pid ${stats.pid}  ${stats.listeners.join(' ') || '(no listeners yet)'}${notYours ? `  (${notYours})` : ''}`,
  );
  const what =
    live.length > 1
      ? `${live.length} unicorn servers are running; choose one with --socket PATH`
      : `the unicorn server found in ${dir} may not be yours: ${live[0]!.notYours}; if it is the one you mean, choose it with --socket PATH`;
  throw new CtlError(`${what}:\n${list.join('\n')}`, ExitCode.USAGE);
}

/** Why the server at `file`, in the caller's default directory `dir`, may not be the caller's. */
function notYours(file: string, dir: string, uid = process.getuid?.()): string | undefined {
  const stat = lstatSync(file, { throwIfNoEntry: false });
  if (stat?.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(file);
    } catch {
      target = readlinkSync(file);
    }
    if (path.dirname(target) !== realpathOr(dir)) return `it leads to ${target}, outside ${dir}`;
  }
  if (stat && uid !== undefined && stat.uid !== uid) return `its socket belongs to uid ${stat.uid}, and this is uid ${uid}`;
  return undefined;
}

function realpathOr(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

interface Found {
  file: string;
  stats: Pick<ServerStats, 'pid' | 'listeners'>;
  /** An emperor's: the arbiters it runs, which are reached through it. */
  vassalPids: number[];
}

/** What the server at `file` says of itself, or undefined when none answers there. */
async function statsAt(file: string): Promise<Found | undefined> {
  try {
    const reply = await ask(file, { command: 'stats' }, { timeoutMs: DISCOVERY_TIMEOUT_MS });
    if (!reply.ok) return undefined;
    if (reply.stats) return { file, stats: reply.stats, vassalPids: [] };
    if (reply.emperor)
      return { file, stats: { pid: reply.emperor.pid, listeners: [describeEmperor(reply.emperor)] }, vassalPids: pidsOf(reply.emperor) };
    return undefined;
  } catch {
    return undefined;
  }
}

/** `emperor of 12 vassals`: an emperor's line in a list of servers, where an arbiter's has its addresses. */
const describeEmperor = (emperor: EmperorStats) => `emperor of ${emperor.vassals.length} vassal${emperor.vassals.length === 1 ? '' : 's'}`;

const pidsOf = (emperor: EmperorStats) => emperor.vassals.flatMap((vassal) => (vassal.pid === null ? [] : [vassal.pid]));
