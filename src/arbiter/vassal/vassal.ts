/**
 * The arbiter as a vassal of `unicorn emperor` (docs/emperor.md): started by the emperor with an IPC
 * channel and UNICORN_VASSAL set, it reports its state and counts, says why before a fatal exit, and
 * stops gracefully when the channel closes (the emperor is gone, even killed), leaving nothing behind.
 *
 * On demand (UNICORN_VASSAL_FDS), it serves on the sockets the emperor passed, sends the emperor a
 * copy of each so that they outlive it, and serves the connections the emperor accepted while it was
 * not serving, held in the relay for the first worker ready. Idle for --idle-timeout, or stopped, it
 * leaves: it accepts no more, hands back the connections it still holds, unread, and says so; the
 * emperor accepts on the sockets again.
 */
import { type BindAddress, formatAddress } from '../../config/address';
import type { IdleState, ServerStats } from '../../hooks/types';
import type { ConnectionHandle } from '../../ipc';
import type { Logger } from '../../shared/log';
import { type FromVassal, type ToVassal, VASSAL_FDS_START, VASSAL_FDS_VARIABLE, type VassalRunState, vassalName } from '../../vassal-ipc';
import { adoptListeners } from '../activation';
import type { Listener } from '../listener';
import { runState, VassalReports } from './report';

/** A report goes out this often besides each change of state. */
const REPORT_EVERY_MS = 2000;

export interface VassalContext {
  log: Logger;
  /** The figures `ctl status` shows, read for each report. */
  stats: () => ServerStats;
  stopping: () => boolean;
  idle: () => IdleState;
  workers: { serving(): unknown[] };
  /** The connections the relay holds for a worker: taken back when leaving. */
  relay: { readonly holding: number; takeAll(): ConnectionHandle[] };
  /** To the loop, as events: a connection the emperor passed; the channel closed. */
  arrived: (connection: ConnectionHandle) => void;
  emperorGone: () => void;
  /** Idle, an on-demand vassal stops, with exit code 0. */
  leave: () => void;
}

/** Whether this process runs as an on-demand vassal: the emperor passed its sockets. */
function passedSockets(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[VASSAL_FDS_VARIABLE];
  // Not for the workers, the app or a USR2 successor: the sockets reach them as the arbiter hands them.
  delete env[VASSAL_FDS_VARIABLE];
  if (!vassalName(env) || !process.send || raw === undefined || !/^[1-9]\d*$/.test(raw)) return undefined;
  return Number(raw);
}

/** The sockets the emperor passed an on-demand vassal, or undefined for none: served on, nothing is bound. */
export function emperorListeners(env: NodeJS.ProcessEnv, bind: readonly BindAddress[]): Listener[] | undefined {
  const count = passedSockets(env);
  if (count === undefined) return undefined;
  const which = (fd: number) => `fd ${fd}, passed by the emperor (${VASSAL_FDS_VARIABLE}=${count})`;
  return adoptListeners(VASSAL_FDS_START, count, which, 'not a stream socket unicorn can accept on').map((listener, i) => {
    // The emperor binds a unix socket under a temporary name, which the kernel still shows: its path is the one --bind names.
    const named = bind[i];
    const address = listener.address.kind === 'unix' && named?.kind === 'unix' ? named : listener.address;
    return { ...listener, address, url: formatAddress(address), emperor: true };
  });
}

/** Before a fatal exit: the one-line reason, to the emperor (written at once: the process exits next). */
export function tellEmperorFailed(reason: string): void {
  // With a callback, as in send() below: a broken channel must not end the process with a stack trace.
  if (vassalName() && process.connected)
    process.send!({ type: 'unicorn:vassal-failed', reason } satisfies FromVassal, undefined, {}, () => {});
}

export class Vassal {
  private readonly reports = new VassalReports();
  private lastState: VassalRunState | undefined;
  private everServed = false;
  private leaving = false;
  /** Serving on the sockets the emperor passed (known once the listeners are open). */
  private passed = false;

  private constructor(private readonly context: VassalContext) {
    process.on('message', (message: ToVassal, handle?: ConnectionHandle) => {
      if (message?.type !== 'unicorn:vassal-connection' || !handle) return;
      if (this.leaving) this.handBack(handle);
      else context.arrived(handle);
    });
    process.on('disconnect', () => context.emperorGone());
    setInterval(() => this.report(), REPORT_EVERY_MS).unref();
  }

  /** The arbiter's link to the emperor, when it runs as a vassal. */
  static start(context: VassalContext, env: NodeJS.ProcessEnv = process.env): Vassal | undefined {
    if (!vassalName(env) || !process.send) return undefined;
    return new Vassal(context);
  }

  /** On demand: the emperor accepts while this vassal does not serve (scale-to-zero lends it no copies). */
  get onDemand(): boolean {
    return this.passed;
  }

  /** The listeners are open: on demand, the emperor keeps a copy of each (a new descriptor there). */
  started(listeners: readonly Listener[]): void {
    this.passed = listeners.some((listener) => listener.emperor);
    if (!this.passed) return;
    for (const [index, listener] of listeners.entries()) this.send({ type: 'unicorn:vassal-listener', index }, listener.handle);
    this.manage();
  }

  /** The arbiter cannot serve and stops (an app that does not load): why, for the emperor. */
  failed(reason: string): void {
    this.send({ type: 'unicorn:vassal-failed', reason });
  }

  /** Each turn of the loop: report a change of state; on demand, leave once idle, hand back what is held once leaving. */
  manage(): void {
    const { context } = this;
    if (!this.everServed && context.workers.serving().length > 0) this.everServed = true;
    const state = runState(context.stopping(), context.idle(), this.everServed);
    // Once the emperor is gone, nothing is handed back: the stopping workers serve what is held.
    if (this.passed && process.connected && !this.leaving && (state === 'idle' || state === 'stopping')) {
      this.leaving = true;
      context.log.info(
        state === 'idle'
          ? 'Idle: leaving; the emperor accepts on the sockets until the next start'
          : 'Stopping: the emperor accepts on the sockets',
      );
      this.send({ type: 'unicorn:vassal-leaving' });
      if (state === 'idle') context.leave();
    }
    if (this.leaving && process.connected) for (const handle of context.relay.takeAll()) this.handBack(handle);
    if (state !== this.lastState) this.report(state);
  }

  private report(state = this.lastState): void {
    if (!state) return;
    this.lastState = state;
    this.send({ type: 'unicorn:vassal-report', ...this.reports.report(state, this.context.stats(), Date.now()) });
  }

  /** A connection this vassal will not serve, unread, to the emperor (closed here once sent). */
  private handBack(handle: ConnectionHandle): void {
    if (!this.send({ type: 'unicorn:vassal-connection' }, handle, () => handle.close())) handle.close();
  }

  /** False if the emperor is gone. Not process.send's answer: false there means only that messages
   *  queue (each one with a handle waits for the last one's to be taken), not that it was dropped.
   *  Always with a callback: the emperor killed, the channel can break before its 'disconnect' is
   *  seen, and without one the write's EPIPE is an 'error' event that ends the vassal at once. */
  private send(message: FromVassal, handle?: unknown, sent?: () => void): boolean {
    if (!process.connected) return false;
    process.send!(message, handle as never, {}, () => sent?.());
    return true;
  }
}
