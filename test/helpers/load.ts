/**
 * A bounded load on a running unicorn from a second process (./load-client.js), for tests that
 * count failed requests across reloads, recycling and re-execs. Every load process is killed by
 * pid after each test (./cleanup.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';

export interface LoadCounts {
  ok: number;
  failed: number;
  refused: number;
  /** Requests sent on a connection that had carried an earlier one (keep-alive at work). */
  reusedConnections: number;
  /** Failures by error code or status. */
  errors: Record<string, number>;
}

export interface LoadOptions {
  keepAlive: boolean;
  /** Loops sending requests one after another. */
  concurrency?: number;
  /** Pause after each response, per loop. */
  pauseMs?: number;
  socketPath?: string;
}

const running = new Set<ChildProcess>();

export class Load {
  private readonly exited: Promise<never>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`the load process exited with code ${code}`))));
    this.exited.catch(() => undefined);
  }

  static async start(url: string, options: LoadOptions): Promise<Load> {
    const config = {
      url,
      socketPath: options.socketPath,
      concurrency: options.concurrency ?? 4,
      keepAlive: options.keepAlive,
      pauseMs: options.pauseMs ?? 2,
    };
    const child = fork(path.join(__dirname, 'load-client.js'), [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    running.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the load process exited with code ${code}`)));
    });
    return new Load(child);
  }

  /** The counts so far. */
  progress(): Promise<LoadCounts> {
    return this.ask('progress');
  }

  /** Wait until at least `count` more requests have succeeded (so the load is flowing). */
  async flowing(count = 50, timeoutMs = 15_000): Promise<void> {
    const start = (await this.progress()).ok;
    const deadline = Date.now() + timeoutMs;
    while ((await this.progress()).ok < start + count) {
      if (Date.now() > deadline) throw new Error(`the load did not flow: ${JSON.stringify(await this.progress())}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stop sending, let the requests in flight finish, and return the counts. */
  async stop(): Promise<LoadCounts> {
    const counts = await this.ask('done', 'stop');
    running.delete(this.child);
    return counts;
  }

  private ask(reply: string, type: string = reply): Promise<LoadCounts> {
    const answer = new Promise<LoadCounts>((resolve) => {
      const onMessage = (message: { type: string; counts: LoadCounts }) => {
        if (message.type !== reply) return;
        this.child.off('message', onMessage);
        resolve(message.counts);
      };
      this.child.on('message', onMessage);
      this.child.send({ type });
    });
    return Promise.race([answer, this.exited]);
  }
}

export function killLoads(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
