/**
 * A vassal as the emperor shows it (`unicorn ctl` against an emperor, its metrics): a leaf, because
 * the emperor fills it in, the control protocol carries it and the prometheus plugin renders it.
 */

/** The vassal reports the first five of itself; the emperor decides the rest. */
export type VassalState = 'starting' | 'serving' | 'idle' | 'waking' | 'stopping' | 'failed' | 'put-aside' | 'waiting' | 'stopped';

/** Every state, in the order a listing shows them; a record, so that a state added to the type is
 *  refused here until it is listed. */
export const VASSAL_STATES = Object.keys({
  starting: 0,
  serving: 0,
  idle: 0,
  waking: 0,
  stopping: 0,
  failed: 0,
  'put-aside': 0,
  waiting: 0,
  stopped: 0,
} satisfies Record<VassalState, 0>) as VassalState[];

export interface VassalSummary {
  /** Its config file's name less `.config.EXT`. */
  name: string;
  /** Its config file. */
  file: string;
  state: VassalState;
  onDemand: boolean;
  /** Its arbiter's pid while one runs. */
  pid: number | null;
  workers: number;
  /** Resident memory of its arbiter and workers, in bytes. */
  rss: number;
  /** Requests served since its arbiter started. */
  requests: number;
  /** When its last request was served (ms since the epoch), null for none yet. */
  lastRequestAt: number | null;
  /** Why it is failed or put aside. */
  reason: string | null;
  restarts: number;
  /** When it entered its state (ms since the epoch). */
  since: number;
}
