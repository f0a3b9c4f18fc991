/**
 * The arbiter as hooks (ArbiterView) and `unicorn ctl status` (ServerStats) see it: read from its
 * state at the moment they ask, never a copy kept up to date beside it.
 */
import type { Settings } from '../config/settings';
import type { ArbiterView, IdleState, ServerStats } from '../hooks/types';
import type { Logger } from '../shared/log';
import { VERSION } from '../shared/version';
import { acceptQueue } from './elastic/backlog';
import type { Listener } from './listener';
import { type ExitTally, serverStats } from './stats';
import { workerStats } from './worker-process';
import type { WorkerTable } from './worker-table';

/** What the view reads of the arbiter. */
export interface ArbiterState {
  startedAt: number;
  log: Logger;
  now: () => number;
  /** --timeout, which says when a worker is late for its heartbeat (busy, whatever it last said). */
  settings: () => Pick<Settings, 'timeout' | 'workerBounds' | 'idleTimeout'>;
  target: () => number;
  stopping: () => boolean;
  reloading: () => boolean;
  generation: () => number;
  predecessorPid: () => number | undefined;
  /** The listeners as clients reach them, with the settings in force. */
  listenerUrls: () => string[];
  /** Every socket connections queue on, for the backlog: --reuse-port's per-worker ones too. */
  listeningSockets: () => readonly Listener[];
  controlSocket: () => string | undefined;
  workers: WorkerTable;
  exited: ExitTally;
  /** The adaptive count's bounds and changes (elastic/scaler.ts). */
  scaling: () => ServerStats['scaling'];
  /** Scale to zero (elastic/scale-to-zero.ts). */
  idle: () => { state: IdleState; wakeUps: number; idleStops: number };
}

/** What hooks see of the arbiter, with `config` as given (onReload sees the settings it is about to take). */
export function arbiterView(state: ArbiterState, config: () => Settings): ArbiterView {
  return {
    pid: process.pid,
    startedAt: state.startedAt,
    log: state.log,
    get config() {
      return config();
    },
    get workerCount() {
      return state.target();
    },
    get reloading() {
      return state.reloading();
    },
    get idleState() {
      return state.idle().state;
    },
    get predecessorPid() {
      return state.predecessorPid();
    },
    workers: () => state.workers.oldestFirst().map((r) => workerStats(r, state.now(), state.settings())),
    stats: () => currentStats(state),
  };
}

/** The server's state: the one place `unicorn ctl` and hooks (`arbiter.stats()`) get it from. */
export function currentStats(state: ArbiterState): ServerStats {
  const now = state.now();
  return serverStats({
    version: VERSION,
    startedAt: state.startedAt,
    state: state.stopping() ? 'stopping' : state.reloading() ? 'reloading' : 'serving',
    workerCount: state.target(),
    idle: state.idle(),
    generation: state.generation(),
    listeners: state.listenerUrls(),
    controlSocket: state.controlSocket(),
    workers: state.workers.oldestFirst().map((r) => workerStats(r, now, state.settings())),
    exited: state.exited,
    // Read here, when asked, rather than kept up to date on every turn of the loop.
    backlog: acceptQueue(state.listeningSockets()),
    scaling: state.scaling(),
  });
}
