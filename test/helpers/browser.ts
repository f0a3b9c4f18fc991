/**
 * Headless Chromium from the machine's packages, driven through the DevTools protocol over a pipe
 * (--remote-debugging-pipe: no port, no dependency): it loads a page and hands back its DOM once
 * the page's own script says it is done. Every browser started here is killed by pid after each
 * test, pass or fail (see ./cleanup.ts), with every process it forked (zygote, renderers, GPU), and
 * its profile directory removed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { childPids } from './unicorn';

/** Debian's package puts its launcher at /usr/bin/chromium; other distributions name it otherwise. */
const PLACES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The Chromium binary, or undefined when none is installed. */
export function findChromium(): string | undefined {
  return PLACES.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Nothing a test does not ask for: no network of its own, no first-run pages, no GPU, no QUIC. */
const QUIET = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

const running = new Set<Browser>();

export class Browser {
  /** What the page reported on its way: console lines, uncaught exceptions, failed loads. */
  readonly events: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly profile: string,
  ) {
    running.add(this);
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const { reject } of this.pending.values()) reject(new Error(`chromium exited:\n${this.stderr}`));
      this.pending.clear();
    });
    proc.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderr += text));
    // The protocol's messages are JSON, each ended by a NUL byte.
    let partial = '';
    (proc.stdio[4] as Readable).setEncoding('utf8').on('data', (text: string) => {
      const messages = (partial + text).split('\0');
      partial = messages.pop()!;
      for (const message of messages) this.receive(JSON.parse(message) as Message);
    });
  }

  /** Start headless Chromium with a fresh profile directory. */
  static start(binary: string): Browser {
    const profile = mkdtempSync(path.join(tmpdir(), 'unicorn-chromium-'));
    const args = [...QUIET, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'];
    // fd 3: what Chromium reads (our commands); fd 4: what it writes (answers and events).
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    return new Browser(proc, profile);
  }

  /**
   * Load `url` in a new tab and return its DOM (document.documentElement.outerHTML) once `done`, an
   * expression evaluated in the page, is true; or fail with what the page reported, after
   * `timeoutMs` (hangs only).
   */
  async dom(url: string, done: string, timeoutMs = 20_000): Promise<string> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })).result as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })).result as { sessionId: string };
    await this.send('Runtime.enable', {}, sessionId);
    await this.send('Log.enable', {}, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const expression = `(${done}) ? document.documentElement.outerHTML : null`;
      const answer = await this.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
      const value = (answer.result?.result as { value?: unknown } | undefined)?.value;
      if (typeof value === 'string') return value;
      if (Date.now() > deadline) {
        const reported = [...this.events, this.stderr && `chromium's stderr:\n${this.stderr}`].filter(Boolean).join('\n');
        throw new Error(`the page at ${url} was not done (${done}) within ${timeoutMs} ms; it reported:\n${reported}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private send(method: string, params: Record<string, unknown>, sessionId?: string): Promise<Message> {
    const id = this.nextId++;
    const answer = new Promise<Message>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    (this.proc.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    return answer.then((message) => {
      if (message.error) throw new Error(`${method}: ${message.error.message}`);
      return message;
    });
  }

  private receive(message: Message): void {
    if (message.id !== undefined) {
      this.pending.get(message.id)?.resolve(message);
      this.pending.delete(message.id);
      return;
    }
    const params = message.params ?? {};
    if (message.method === 'Runtime.consoleAPICalled') {
      const args = (params.args as Array<{ value?: unknown; description?: string }>).map((a) => a.value ?? a.description);
      this.events.push(`console.${params.type}: ${args.join(' ')}`);
    } else if (message.method === 'Runtime.exceptionThrown') {
      const details = params.exceptionDetails as { text: string; exception?: { description?: string } };
      this.events.push(`exception: ${details.exception?.description ?? details.text}`);
    } else if (message.method === 'Log.entryAdded') {
      const entry = params.entry as { level: string; text: string; url?: string };
      this.events.push(`${entry.level}: ${entry.text}${entry.url ? ` (${entry.url})` : ''}`);
    }
  }

  /** Chromium and every process it forked, killed by pid; its profile removed. The browser is
   *  stopped first, so that it starts no process between the kills. */
  async kill(): Promise<void> {
    const signal = (pid: number, name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // Already gone.
      }
    };
    const root = this.proc.pid!;
    signal(root, 'SIGSTOP');
    const pids = [root];
    for (const pid of pids) pids.push(...childPids(pid));
    for (const pid of pids.reverse()) signal(pid, 'SIGKILL');
    await this.exited;
    running.delete(this);
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export async function killBrowsers(): Promise<void> {
  await Promise.all([...running].map((browser) => browser.kill()));
}
