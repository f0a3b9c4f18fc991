/**
 * The arbiter's end of its workers' IPC channels: what it sends them (messages, listeners, their
 * own sockets at a hand-over, connections relayed between sync workers), the services it gives at
 * once (a listener asked for, a connection handed back), and the channel's events turned into the
 * loop's (a message that changes state, an exit).
 */
import type { ConnectionHandle, ToArbiter, ToWorker } from '../ipc';
import { isMessage } from '../ipc';
import type { Logger } from '../shared/log';
import type { ListenHandle } from './elastic/lent-listeners';
import type { Listener } from './listeners';
import { ConnectionRelay, type RelayWorkers } from './relay';
import type { PerWorkerSockets } from './reuse-port';
import { bootsToServeHeld, type WorkerRecord } from './worker-process';
import { isServing, type WorkerTable } from './worker-table';

/** --capture-output: how long a worker's exit waits for the rest of its output to be read. */
const CAPTURE_DRAIN_MS = 500;

export interface WorkerChannelContext {
  workers: WorkerTable;
  log: Logger;
  listeners: () => Listener[];
  /** --reuse-port: each worker's own sockets. */
  perWorker: () => PerWorkerSockets | undefined;
  stopping: () => boolean;
  /** The generation in force: its workers count toward the target (their own sockets are kept). */
  generation: () => number;
  target: () => number;
  /** Another arbiter (USR2) serves on the same sockets. */
  sharesListeners: () => boolean;
  /** A message that changes the arbiter's state: for the loop. */
  onMessage: (id: number, message: ToArbiter) => void;
  /** The worker's process has exited (and, capturing its output, that output has been read). */
  onExit: (id: number, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Worker `id` lent a copy of listener `index` (`handle`), or had none (elastic/lent-listeners.ts). */
  lent: (id: number, index: number, handle: ListenHandle | undefined) => void;
}

export class WorkerChannels {
  /** sync: connections workers handed back, on their way to a free worker. */
  readonly relay: ConnectionRelay;

  constructor(private readonly context: WorkerChannelContext) {
    this.relay = new ConnectionRelay(this.relayWorkers());
  }

  /** Listen to a newly forked worker. `captured`: resolves once its piped output has all been read. */
  attach(record: WorkerRecord, captured: Promise<void> | undefined): void {
    const { handle, id } = record;
    handle.on('message', (message: unknown, connection: unknown) => this.onWorkerMessage(record, message, connection));
    // A send to a worker that has just died fails; its exit event tells the rest.
    handle.on('error', (err) => this.context.log.debug({ err, workerId: id }, 'IPC error'));
    handle.on('exit', (code, signal) => {
      let reaped = false;
      const reap = () => {
        if (reaped) return;
        reaped = true;
        this.context.onExit(id, code, signal as NodeJS.Signals | null);
      };
      if (!captured) return reap();
      // What the worker wrote as it exited may still be in the pipes: log it before its exit (and
      // before the arbiter's own, at a stop). A process the worker started may hold them open, so
      // the exit is not kept waiting long.
      const timer = setTimeout(reap, CAPTURE_DRAIN_MS);
      void captured.then(() => {
        clearTimeout(timer);
        reap();
      });
    });
  }

  /** `sent`: once the message (and its handle) is in the channel, or will never be. */
  send(record: WorkerRecord, message: ToWorker, handle?: unknown, sent?: () => void): void {
    if (record.handle.isConnected()) record.handle.send(message, handle as never, sent && (() => sent()));
    else sent?.();
  }

  /**
   * Tell a stopping worker to finish what it has while others serve on. Its own sockets
   * (--reuse-port) leave the port now when no other worker accepts on them and fewer are needed
   * (PerWorkerSockets.withdraw): it gets a last copy of each, the arbiter closes its own, and the
   * worker accepts what is queued on them before it closes them. Says whether it did so.
   */
  handOver(record: WorkerRecord): boolean {
    const { workers, listeners } = this.context;
    const perWorker = this.context.perWorker();
    const keep = this.context.stopping() ? 0 : this.context.target();
    const withdrawn = perWorker?.withdraw(record.id, keep, (id) => workers.accepting(id), this.context.sharesListeners());
    for (const [index, handle] of withdrawn ?? []) {
      const message: ToWorker = { type: 'unicorn:listener', index, address: listeners()[index]!.url };
      this.send(record, message, handle, () => perWorker!.handedOver(record.id, handle));
    }
    this.send(record, { type: 'unicorn:hand-over', lastOnSocket: withdrawn !== undefined });
    return withdrawn !== undefined;
  }

  private onWorkerMessage(record: WorkerRecord, message: unknown, connection: unknown): void {
    if (!isMessage(message)) return;
    const msg = message as ToArbiter;
    // Services, not changes of state: done at once.
    switch (msg.type) {
      case 'unicorn:need-listener':
        // A worker being stopped accepts no more, but for one booting to serve what the arbiter held (perform.ts).
        if ((this.context.stopping() || record.state === 'stopping') && !bootsToServeHeld(record)) return;
        if (!this.context.listeners()[msg.index]) return;
        this.sendListener(record, msg.index);
        return;
      case 'unicorn:hand-back':
        if (connection) this.relay.handedBack(record.id, connection as ConnectionHandle);
        return;
      case 'unicorn:free':
        this.relay.free(record.id, msg.stopping);
        return;
      case 'unicorn:lent-listener':
        this.context.lent(record.id, msg.index, (connection as ListenHandle | undefined) ?? undefined);
        return;
    }
    this.context.onMessage(record.id, msg);
  }

  private sendListener(record: WorkerRecord, index: number): void {
    const { workers, generation } = this.context;
    const listener = this.context.listeners()[index]!;
    const handle = this.context.perWorker()?.handleFor(index, record.id, (id) => workers.countsToward(id, generation())) ?? listener.handle;
    // A raw handle ('net.Native' to child_process): the worker listens on it itself (worker/accept.ts).
    this.send(record, { type: 'unicorn:listener', index, address: listener.url }, handle);
  }

  /** The workers as the relay sees them: those serving, by id and worker class. */
  private relayWorkers(): RelayWorkers {
    const { workers } = this.context;
    const servingSync = (record: WorkerRecord | undefined) => record !== undefined && isServing(record) && record.sync;
    return {
      servingSync: () =>
        workers
          .serving()
          .filter((r) => r.sync)
          .map((r) => r.id),
      isServingSync: (id) => servingSync(workers.get(id)),
      // Not one being replaced (retiring): it would be stopping soon.
      servingAsync: () =>
        workers
          .serving()
          .filter((r) => !r.sync && r.state === 'ready')
          .map((r) => r.id),
      stopping: () => this.context.stopping(),
      pass: (id, connection) => {
        const record = workers.get(id);
        if (!record?.handle.isConnected()) return false;
        // The arbiter's copy is closed once the message carrying it is written.
        record.handle.send({ type: 'unicorn:connection' } satisfies ToWorker, connection as never, () => connection.close());
        return true;
      },
      noConnection: (id) => {
        const record = workers.get(id);
        if (record) this.send(record, { type: 'unicorn:no-connection' });
      },
      tellHolding: (id) => {
        const record = workers.get(id);
        if (record) this.send(record, { type: 'unicorn:holding' });
      },
    };
  }
}
