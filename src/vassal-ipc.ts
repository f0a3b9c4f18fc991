/**
 * Every message that crosses the emperor/vassal boundary (`unicorn emperor DIR`, docs/emperor.md),
 * in one place for both sides. A vassal is a whole unicorn arbiter, spawned by the emperor with an
 * IPC channel (`process.send`) and `UNICORN_VASSAL` in its environment. An on-demand vassal also
 * gets its listening sockets as file descriptors from 3 on, counted in `UNICORN_VASSAL_FDS`: the
 * emperor bound them and holds them while the vassal is not running.
 */
import type { ConnectionHandle } from './ipc';

/** The vassal's name (its config file's name less `.config.EXT`): set for a vassal only. */
export const VASSAL_NAME_VARIABLE = 'UNICORN_VASSAL';
/** This process's vassal name, when it is (or is a worker of) a vassal: its log lines carry it. */
export function vassalName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[VASSAL_NAME_VARIABLE] || undefined;
}

/** How many listening sockets an on-demand vassal was handed, from file descriptor 3 on. */
export const VASSAL_FDS_VARIABLE = 'UNICORN_VASSAL_FDS';
/** The first descriptor of the sockets an on-demand vassal is handed. */
export const VASSAL_FDS_START = 3;

/** A vassal's state as the emperor shows it (the vassal reports the first four). */
export type VassalRunState = 'starting' | 'serving' | 'idle' | 'waking' | 'stopping';

/** What a vassal reports of itself, on each change of state and every few seconds. */
export interface VassalReport {
  state: VassalRunState;
  /** Workers running now. */
  workers: number;
  /** Resident memory of the arbiter and its workers together, in bytes. */
  rss: number;
  /** Requests served since the vassal started. */
  requests: number;
  /** When the last request was served (ms since the epoch), null for none yet. */
  lastRequestAt: number | null;
}

/** Vassal → emperor. */
export type FromVassal =
  /** The vassal's state and counts. */
  | ({ type: 'unicorn:vassal-report' } & VassalReport)
  /** Sent just before the vassal exits because it cannot serve (a bad setting, an app that does
   *  not load): the one-line reason, for `ctl` and the emperor's log. */
  | { type: 'unicorn:vassal-failed'; reason: string }
  /** On-demand: a copy of listening socket `index` (the message's handle), which the emperor keeps
   *  while the vassal runs, so that the socket outlives it. Sent once each, at start. */
  | { type: 'unicorn:vassal-listener'; index: number }
  /** On-demand: a connection the vassal accepted but will not serve (the message's handle, unread),
   *  because it is leaving: the emperor serves it with the next start. */
  | { type: 'unicorn:vassal-connection' }
  /** On-demand: idle for its --idle-timeout, the vassal has stopped its workers and accepts no
   *  more; it exits next. The emperor accepts on the sockets again. */
  | { type: 'unicorn:vassal-leaving' };

/** Emperor → vassal (signals do the rest: TERM, QUIT, HUP, USR1 as for any unicorn). */
export type ToVassal =
  /** On-demand: a connection the emperor accepted while the vassal was not serving (the message's
   *  handle, unread): the first worker ready serves it, as a fresh connection. */
  { type: 'unicorn:vassal-connection' };

export type { ConnectionHandle };
