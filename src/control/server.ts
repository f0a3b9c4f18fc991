/**
 * The control socket, the server's side: a unix socket (mode 0600) that `unicorn ctl` talks to, served
 * by an arbiter or by an emperor (src/emperor/control.ts). This module only reads requests and writes
 * replies. What a request does happens elsewhere: in the arbiter's loop (`onRequest` enqueues it;
 * perform.ts does it, as it does the matching signal), and its reply is written when the loop has got
 * there: a reload's once the new workers are ready. Nothing here is on a request's path through a worker.
 */
import { chmodSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { controlSocketFailed } from '../shared/errors';
import type { Logger } from '../shared/log';
import { isRunning } from '../shared/pidfile';
import { defaultControlDir, defaultControlSocket, socketPathProblem } from './paths';
import {
  type ControlReply,
  type ControlRequest,
  checkPrivateDir,
  type EmperorRequest,
  MAX_REQUEST_BYTES,
  parseRequest,
  pidOfSocketName,
  type Role,
} from './protocol';

/** The way back to the client that sent a request. */
export interface Reply {
  /** Answer, once, and close the connection; with `untilExit`, it stays open until the server's
   *  process exits, which is how `ctl shutdown` learns that it has. */
  send(reply: ControlReply): void;
}

/** The requests each role serves. */
export interface RequestOf {
  arbiter: ControlRequest;
  emperor: EmperorRequest;
}

export interface ControlOptions<R extends Role = 'arbiter'> {
  /** Whose socket: which requests it takes, and how it refuses the other role's. @default 'arbiter' */
  role?: R;
  /** --control-socket: a path, false for none, undefined for the default place. */
  setting: string | false | undefined;
  /** The arbiter that started this one with USR2, while it runs: a socket it holds at the same
   *  path is taken over (ctl then reaches the newest arbiter). */
  predecessor: number | undefined;
  log: Logger;
  /** Called for each well-formed request; the reply may come any time later. */
  onRequest(request: RequestOf[R], reply: Reply): void;
}

/** A connection that has not sent its request by then is closed. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a probe of an existing socket file waits for it to accept. */
const PROBE_TIMEOUT_MS = 1000;

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EADDRINUSE: 'the path is in use',
  ENOENT: 'no such directory for the socket file',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ETIMEDOUT: 'something holds it, but did not accept a connection within a second',
};

export class ControlServer<R extends Role = 'arbiter'> {
  /** The socket file as bound: at exit it is removed only if it is still this one (a USR2
   *  successor may have put its own at the same path). */
  private identity: { dev: number; ino: number } | undefined;
  private readonly server: net.Server;

  private constructor(
    readonly path: string,
    private readonly options: ControlOptions<R>,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /**
   * Listen at --control-socket, or at the default place. Throws a UnicornError when a path given
   * with --control-socket cannot be used. A default directory that is not private to this user is
   * logged and the server runs without a control socket: anyone can create `/tmp/unicorn-UID`, and
   * doing so must not keep a server from starting.
   */
  static async start<R extends Role = 'arbiter'>(options: ControlOptions<R>): Promise<ControlServer<R> | undefined> {
    const { setting, log } = options;
    if (setting === false) return undefined;
    let file = setting;
    if (file === undefined) {
      const dir = defaultControlDir();
      const problem = checkPrivateDir(dir, true);
      if (problem) {
        log.error(
          `No control socket: ${problem}; \`unicorn ctl\` cannot reach this server (give --control-socket PATH, or --no-control-socket)`,
        );
        return undefined;
      }
      file = defaultControlSocket(dir, process.pid);
      void removeStaleSockets(dir, log);
    }
    const control = new ControlServer(file, options);
    await control.makeRoom();
    await control.listen();
    log.info({ controlSocket: file }, `Control socket at ${file}`);
    return control;
  }

  /** At exit: remove the socket file, unless another arbiter has put its own in its place. */
  removeFile(): void {
    const stat = lstatSync(this.path, { throwIfNoEntry: false });
    if (!stat || !this.identity || stat.dev !== this.identity.dev || stat.ino !== this.identity.ino) return;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  /** A stale socket file is replaced, a live one refused, the predecessor's taken over. */
  private async makeRoom(): Promise<void> {
    const { path: file, options } = this;
    const stat = lstatSync(file, { throwIfNoEntry: false });
    if (!stat) return;
    if (!stat.isSocket())
      throw controlSocketFailed(file, 'the path exists and is not a socket; remove it or choose another --control-socket');
    if (options.predecessor !== undefined && isRunning(options.predecessor)) {
      options.log.info(
        { predecessorPid: options.predecessor },
        `Taking over the control socket ${file} from the arbiter this one replaces (pid:${options.predecessor})`,
      );
    } else {
      const found = await probe(file);
      if (found === 'live')
        throw controlSocketFailed(file, 'a server is already listening on it; stop it, or choose another --control-socket');
      if (found !== 'stale' && found !== 'absent') throw controlSocketFailed(file, REASONS[found] ?? found);
      if (found === 'stale') options.log.warn({ controlSocket: file }, `Replacing the stale control socket ${file}: nothing listens on it`);
    }
    try {
      unlinkSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code !== 'ENOENT') throw controlSocketFailed(file, `cannot remove the old socket file: ${REASONS[code] ?? code}`, err);
    }
  }

  /** Listen with mode 0600 from the start: the umask covers the moment between bind and chmod
   *  (a pipe binds synchronously inside listen() in the cluster primary). */
  private async listen(): Promise<void> {
    const file = this.path;
    const umask = process.umask(0o177);
    try {
      this.server.listen(file);
    } finally {
      process.umask(umask);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('listening', resolve);
        this.server.once('error', reject);
      });
      chmodSync(file, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      // A path too long is EINVAL on Linux (the default place, under a long $XDG_RUNTIME_DIR).
      throw controlSocketFailed(file, (code === 'EINVAL' && socketPathProblem(file)) || REASONS[code] || (err as Error).message, err);
    }
    // Listening: what can fail now is an accept, for want of a descriptor; the arbiter serves on.
    this.server.on('error', (err) => this.options.log.warn({ err }, `Control socket: ${err.message}`));
    const { dev, ino } = lstatSync(file);
    this.identity = { dev, ino };
    // The arbiter's loop decides when it exits, not an open control socket.
    this.server.unref();
    process.once('exit', () => this.removeFile());
  }

  private accept(socket: net.Socket): void {
    // A client that goes away before its answer is no concern of the arbiter's.
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    let buffered = '';
    const onData = (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end === -1 && buffered.length <= MAX_REQUEST_BYTES) return;
      socket.off('data', onData);
      socket.setTimeout(0);
      const reply = replyOn(socket);
      if (end === -1) return reply.send({ ok: false, error: `the request is longer than ${MAX_REQUEST_BYTES} bytes` });
      const line = buffered.slice(0, end);
      const request = this.options.role === 'emperor' ? parseRequest(line, 'emperor') : parseRequest(line);
      if ('refused' in request) return reply.send({ ok: false, error: request.refused });
      this.options.onRequest(request as RequestOf[R], reply);
    };
    socket.on('data', onData);
  }
}

function replyOn(socket: net.Socket): Reply {
  let sent = false;
  return {
    send(reply) {
      if (sent || socket.destroyed) return;
      sent = true;
      socket.write(`${JSON.stringify(reply)}\n`);
      // Left open until the process exits, the connection must not be what keeps it running.
      if ('untilExit' in reply && reply.untilExit) socket.unref();
      else socket.end();
    },
  };
}

/** Whether a server accepts at socket file `file`: `live`, `stale` (nothing listens), `absent`, or
 *  the error code that kept the probe from telling. */
export function probe(file: string): Promise<'live' | 'stale' | 'absent' | string> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    const done = (found: string) => {
      socket.destroy();
      resolve(found);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done('ETIMEDOUT'));
    socket.once('connect', () => done('live'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'absent' : (err.code ?? err.message)),
    );
  });
}

/**
 * Housekeeping in the default directory: socket files left by arbiters that are gone (killed with
 * SIGKILL, they could not remove theirs). Only a file whose pid is not running and where nothing
 * listens is removed.
 */
async function removeStaleSockets(dir: string, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  let removed = 0;
  for (const name of names) {
    const pid = pidOfSocketName(name);
    if (pid === undefined || pid === process.pid || isRunning(pid)) continue;
    const file = path.join(dir, name);
    if ((await probe(file)) !== 'stale') continue;
    try {
      unlinkSync(file);
      removed++;
    } catch {
      // Another arbiter removed it first.
    }
  }
  if (removed > 0) log.debug({ dir, removed }, `Removed ${removed} stale control sockets from ${dir}`);
}

/**
 * Replies that wait for the arbiter's loop to reach a state: a reload's outcome, or the workers
 * settling at a count. The loop says when a reload ends and checks the others on each turn.
 */
export class PendingReplies {
  private reloads: { reload: number; reply: Reply }[] = [];
  private settling: { reply: Reply; check: () => ControlReply | undefined }[] = [];

  /** Answer `reply` with the outcome of reload number `reload` (the one begun or queued now). */
  afterReload(reload: number, reply: Reply): void {
    this.reloads.push({ reload, reply });
  }

  reloadEnded(reload: number, outcome: ControlReply): void {
    for (const waiting of this.reloads.filter((w) => w.reload <= reload)) waiting.reply.send(outcome);
    this.reloads = this.reloads.filter((w) => w.reload > reload);
  }

  /** Answer `reply` once `check` gives an answer; checked on each turn of the loop. */
  whenSettled(reply: Reply, check: () => ControlReply | undefined): void {
    this.settling.push({ reply, check });
    this.check();
  }

  check(): void {
    this.settling = this.settling.filter(({ reply, check }) => {
      const answer = check();
      if (answer) reply.send(answer);
      return !answer;
    });
  }

  /** A worker could not boot: the count waited for may never be reached. */
  failSettling(error: string): void {
    for (const { reply } of this.settling) reply.send({ ok: false, error });
    this.settling = [];
  }

  /** The arbiter is stopping: nothing waited for will happen. */
  failAll(error: string): void {
    this.failSettling(error);
    for (const { reply } of this.reloads) reply.send({ ok: false, error });
    this.reloads = [];
  }
}
