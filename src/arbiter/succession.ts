/**
 * USR2 re-exec from both sides: the arbiter that starts a successor, and the successor that takes
 * over from the arbiter that started it — with the pidfile that passes from one to the other.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../shared/log';
import { isRunning, removePidfile, takeOverPidfile, writePidfile } from '../shared/pidfile';
import { type Listener, spawnSuccessor } from './listeners';

export class Succession {
  /** The pidfile this arbiter wrote: `--pid`, or `--pid`.2 while the arbiter that started it runs. */
  private pidfile: string | undefined;
  /** The arbiter that started this one with USR2, while it is still running. */
  private predecessor: number | undefined;
  /** The arbiter this one started with USR2, while it is running. */
  private successor: ChildProcess | undefined;

  constructor(
    /** --pid */
    private readonly pidSetting: string | undefined,
    private readonly log: Logger,
  ) {}

  /** At start, before binding: `predecessor` is the arbiter that started this one with USR2, if
   *  one did. Writes the pidfile, or throws when it names a running process. */
  begin(predecessor: number | undefined): void {
    this.predecessor = predecessor;
    if (!this.pidSetting) return;
    this.pidfile = this.predecessor ? `${this.pidSetting}.2` : this.pidSetting;
    const { replaced } = writePidfile(this.pidfile);
    if (replaced) this.log.warn(`Replaced the stale pidfile ${this.pidfile}: pid ${replaced} is not running`);
  }

  /** The arbiter that started this one, while it runs. */
  get predecessorPid(): number | undefined {
    return this.predecessor;
  }

  /** USR2: start a new arbiter on the same listeners; `onExit` is called when it exits. */
  reexec(listeners: Listener[], cwd: string, onExit: (pid: number, code: number | null, signal: NodeJS.Signals | null) => void): void {
    if (this.successor) {
      this.log.warn(`Ignoring USR2: the arbiter re-executed earlier (pid:${this.successor.pid}) is still running`);
      return;
    }
    if (this.predecessor) {
      this.log.warn(`Ignoring USR2: the arbiter this one replaces (pid:${this.predecessor}) is still running`);
      return;
    }
    const cannot = (err: Error) => this.log.error({ err }, `Cannot re-execute: ${err.message}`);
    let child: ChildProcess;
    try {
      child = spawnSuccessor(listeners, cwd);
    } catch (err) {
      cannot(err as Error);
      return;
    }
    if (child.pid === undefined) {
      child.once('error', cannot);
      return;
    }
    const pid = child.pid;
    this.successor = child;
    child.once('exit', (code, signal) => onExit(pid, code, signal));
    this.log.info({ successorPid: pid }, `Re-executing: new arbiter (pid:${pid}) inherits the listeners`);
  }

  successorExited(pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    this.log.warn({ successorPid: pid, code, signal }, `Re-executed arbiter (pid:${pid}) ${how}`);
    this.successor = undefined;
  }

  /** A successor takes over the pidfile once the arbiter that started it is gone. */
  watchPredecessor(): void {
    if (this.predecessor === undefined || isRunning(this.predecessor)) return;
    this.log.info({ predecessorPid: this.predecessor }, `The previous arbiter (pid:${this.predecessor}) has exited`);
    this.predecessor = undefined;
    if (!this.pidfile || !this.pidSetting) return;
    try {
      if (!takeOverPidfile(this.pidfile, this.pidSetting)) return;
    } catch (err) {
      this.log.warn({ err }, `Cannot move the pidfile ${this.pidfile} to ${this.pidSetting}: ${(err as Error).message}`);
      return;
    }
    this.pidfile = this.pidSetting;
    this.log.info({ pidfile: this.pidfile }, `Took over the pidfile ${this.pidfile}`);
  }

  /** A new arbiter this one started (USR2) runs. */
  get replaced(): boolean {
    return this.successor !== undefined;
  }

  /** Another arbiter serves on the same sockets: they must stay open, their files in place. */
  sharesListeners(): boolean {
    return this.successor !== undefined || (this.predecessor !== undefined && isRunning(this.predecessor));
  }

  /** At exit: remove the pidfile, unless a successor is about to take it over. */
  end(): void {
    if (this.pidfile && !this.successor) removePidfile(this.pidfile);
  }
}
