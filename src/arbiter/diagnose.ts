/**
 * What a timed-out worker was doing: its JavaScript stack at that moment, read through the
 * inspector, and the request it was serving.
 *
 * A worker stuck in `while (true) {}` runs no JavaScript callbacks, so nothing that waits for its
 * event loop (an IPC request, a signal handler, Node's diagnostic report on a signal) can answer.
 * The inspector can: `SIGUSR1` makes Node open it from a signal-safe path, and inspector messages
 * reach a busy main thread through V8 interrupts. Workers run with `--inspect-port=127.0.0.1:0`, so
 * the inspector listens on a free loopback port only from the moment the arbiter sends `SIGUSR1`,
 * and only in a worker about to be killed. The port is found in /proc (Linux): the listening socket
 * the worker did not have before the signal. Elsewhere the timeout is logged without a stack.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BootStep, SELF_REPORT_KEY, type SelfReport } from '../ipc';

export interface Frame {
  functionName: string;
  /** A file path for file: URLs, else the script URL (node:internal/…), or '' when unknown. */
  file: string;
  line: number;
  column: number;
}

export interface Diagnosis {
  /** The stack, innermost first; empty when no JavaScript was running (waiting on I/O or a timer). */
  frames: Frame[];
  /** The requests in flight, as the worker describes them. */
  inFlight: string[];
  /** Why there is no stack, when there is none. */
  unavailable?: string;
}

/** The execArgv that lets the arbiter open a worker's inspector on demand: on a free loopback port,
 *  with its address published over HTTP only (not as `Debugger listening on …` on stderr). */
export const INSPECT_ON_DEMAND = ['--inspect-port=127.0.0.1:0', '--inspect-publish-uid=http'];

/** What Node's inspector still writes to a worker's stderr during a diagnosis, whatever the flags
 *  (`Debugger attached.` has no switch), and the lines the flags stop, should a user's come back. */
const INSPECTOR_NOTICE =
  /^(?:Debugger (?:listening|ending) on ws:\/\/\S+|For help, see: https:\/\/nodejs\.org\/\S*|Debugger attached\.|Waiting for the debugger to disconnect\.\.\.)$/;

export const isInspectorNotice = (line: string): boolean => INSPECTOR_NOTICE.test(line);

/** How long a free event loop may take to run an immediate. */
const LOOP_PROBE_MS = 150;

/** Read the stack and the in-flight requests of worker `pid`, within `limitMs`. Never throws. */
export async function diagnose(pid: number, limitMs: number): Promise<Diagnosis> {
  const deadline = performance.now() + limitMs;
  const failed = (why: string): Diagnosis => ({ frames: [], inFlight: [], unavailable: why });
  if (process.platform !== 'linux') return failed("reading a stuck worker's stack needs /proc (Linux)");
  let session: InspectorSession | undefined;
  try {
    const before = new Set(listeningPorts(pid).map((socket) => socket.inode));
    process.kill(pid, 'SIGUSR1');
    let port: number | undefined;
    while (port === undefined) {
      if (performance.now() > deadline) return failed('the inspector did not open');
      await delay(10);
      port = listeningPorts(pid).find((socket) => !before.has(socket.inode) && socket.loopback)?.port;
    }
    const remaining = () => Math.max(1, Math.ceil(deadline - performance.now()));
    const targets = (await (
      await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(remaining()) })
    ).json()) as Array<{
      webSocketDebuggerUrl: string;
    }>;
    session = await InspectorSession.open(targets[0]!.webSocketDebuggerUrl, remaining());
    // The worker's own account first: inspector calls reach even a stuck loop (V8 interrupts).
    const report = await session
      .call(
        'Runtime.evaluate',
        { expression: `process[Symbol.for(${JSON.stringify(SELF_REPORT_KEY)})]?.()`, returnByValue: true },
        remaining(),
      )
      .then((answer) => (answer as { result?: { value?: SelfReport } }).result?.value)
      .catch(() => undefined);
    const inFlight = report?.inFlight ?? [];
    // A free loop (a sync request waiting on I/O) runs an immediate at once, and pausing it would
    // only catch whatever callback ran next. A stuck one does not: pause it where it is.
    const free = await session
      .call(
        'Runtime.evaluate',
        { expression: 'new Promise((resolve) => setImmediate(resolve, true))', awaitPromise: true, returnByValue: true },
        Math.min(LOOP_PROBE_MS, remaining()),
      )
      .then(
        () => true,
        () => false,
      );
    if (free) return { frames: [], inFlight };
    // Enabling the debugger reports every script loaded (for the frames' file names).
    await session.call('Debugger.enable', {}, remaining());
    const paused = session.next('Debugger.paused', remaining());
    void session.call('Debugger.pause', {}, remaining()).catch(() => undefined);
    const event = (await paused) as { callFrames: CallFrame[] } | undefined;
    if (!event) return { frames: [], inFlight, unavailable: 'the worker did not pause' };
    return { frames: event.callFrames.map((frame) => toFrame(frame, session!.scripts)), inFlight };
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err));
  } finally {
    // Closing the session resumes the worker, so that the abort path that follows can run if the
    // worker's loop is free.
    session?.close();
  }
}

/** A stack as Node prints one: `    at fn (file:line:column)`, one frame a line. */
export function formatStack(frames: Frame[]): string {
  return frames.map((f) => `    at ${f.functionName} (${f.file}:${f.line}:${f.column})`).join('\n');
}

/**
 * The WORKER TIMEOUT line: how long the worker was silent, the limit, where it was stuck (or that
 * its loop was free) and what it was serving.
 */
export function describeTimeout(
  pid: number,
  boot: boolean,
  silentMs: number,
  limit: string,
  diagnosis: Diagnosis,
  step?: BootStep,
): string {
  const what = boot ? `WORKER BOOT TIMEOUT (pid:${pid}): not ready after` : `WORKER TIMEOUT (pid:${pid}): silent for`;
  return `${what} ${(silentMs / 1000).toFixed(1)}s (${limit}); ${describeWait(diagnosis, step)}`;
}

/**
 * Where a timed-out worker was stuck, or what it waited on: the innermost frame of the app's own
 * code, or, with a free event loop, what the boot step it was at waits for (a promise that never
 * settles leaves no stack), or I/O or a timer; then what it was serving.
 */
export function describeWait(diagnosis: Diagnosis, step?: BootStep): string {
  const top = culprit(diagnosis.frames);
  const doing = step && describeBootStep(step);
  const where = top
    ? `stuck in ${top.functionName} (${top.file}:${top.line}:${top.column})${doing ? ` while ${doing.doing}` : ''}`
    : diagnosis.unavailable
      ? `its stack could not be read: ${diagnosis.unavailable}${doing ? `; it was ${doing.doing}` : ''}`
      : doing
        ? `${doing.waiting} (its event loop was free)`
        : 'its event loop was free: waiting on I/O or a timer';
  const serving = diagnosis.inFlight.length > 0 ? `; serving ${diagnosis.inFlight.join(', ')}` : '';
  return `${where}${serving}`;
}

/** What a booting worker does at `step`, and what it waits on there when its event loop is free. */
export function describeBootStep(step: BootStep): { doing: string; waiting: string } {
  switch (step.step) {
    case 'hooks':
      return {
        doing: 'loading the config file and hook modules',
        waiting: 'the top-level await of the config file or a hook module has not settled',
      };
    case 'postFork':
    case 'postWorkerInit':
      return { doing: `running the ${step.step} hooks`, waiting: `a ${step.step} hook has not finished` };
    case 'import':
      return {
        doing: `importing ${step.file}`,
        waiting: `the top-level await of ${step.file}, or of a module it imports, has not settled`,
      };
    case 'factory':
      return {
        doing: `calling the factory ${step.name} of ${step.file}`,
        waiting: `the promise the factory ${step.name} of ${step.file} returned has not settled`,
      };
    case 'handler':
      return { doing: "waiting for the app's ready()", waiting: "the app's ready() (Fastify's, for its plugins) has not settled" };
    case 'tls':
      return { doing: 'waiting for its certificate from the arbiter', waiting: 'its certificate has not come from the arbiter' };
    case 'listen':
      return {
        doing: 'taking its listening sockets from the arbiter',
        waiting: 'its listening sockets have not all come from the arbiter',
      };
  }
}

/** The innermost frame of the app's own code (not Node's internals), else the innermost. */
function culprit(frames: Frame[]): Frame | undefined {
  return frames.find((f) => f.file !== '' && !f.file.startsWith('node:')) ?? frames[0];
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

function toFrame(frame: CallFrame, scripts: Map<string, string>): Frame {
  const url = frame.url || scripts.get(frame.location.scriptId) || '';
  return {
    functionName: frame.functionName || '<anonymous>',
    file: url.startsWith('file:') ? fileURLToPath(url) : url,
    line: frame.location.lineNumber + 1,
    column: frame.location.columnNumber + 1,
  };
}

/** The TCP sockets process `pid` is listening on, from /proc. */
function listeningPorts(pid: number): Array<{ inode: string; port: number; loopback: boolean }> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed while we looked.
    }
  }
  const sockets = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      if (fields[3] !== '0A' || !inodes.has(fields[9]!)) continue; // 0A: LISTEN
      const [host, port] = fields[1]!.split(':');
      sockets.push({ inode: fields[9]!, port: parseInt(port!, 16), loopback: host === '0100007F' });
    }
  }
  return sockets;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A minimal Chrome DevTools Protocol client over the WebSocket Node has built in (22+). */
class InspectorSession {
  readonly scripts = new Map<string, string>();
  private lastId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private readonly waiters = new Map<string, (params: unknown) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => this.onMessage(String(event.data)));
  }

  static open(url: string, limitMs: number): Promise<InspectorSession> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => reject(new Error('the inspector did not answer')), limitMs);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(new InspectorSession(socket));
      });
      socket.addEventListener('error', () => {
        clearTimeout(timer);
        reject(new Error('could not connect to the inspector'));
      });
    });
  }

  call(method: string, params: object, limitMs: number): Promise<unknown> {
    const id = ++this.lastId;
    this.socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} got no answer`));
      }, limitMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** The next `method` event's params, or undefined after `limitMs`. */
  next(method: string, limitMs: number): Promise<unknown> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(method);
        resolve(undefined);
      }, limitMs);
      this.waiters.set(method, (params) => {
        clearTimeout(timer);
        this.waiters.delete(method);
        resolve(params);
      });
    });
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(data: string): void {
    const message = JSON.parse(data) as {
      id?: number;
      method?: string;
      params?: { scriptId?: string; url?: string };
      result?: unknown;
      error?: { message: string };
    };
    if (message.id !== undefined) {
      const call = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) call?.reject(new Error(message.error.message));
      else call?.resolve(message.result);
    } else if (message.method === 'Debugger.scriptParsed') {
      this.scripts.set(message.params!.scriptId!, message.params!.url!);
    } else if (message.method) {
      this.waiters.get(message.method)?.(message.params);
    }
  }
}
