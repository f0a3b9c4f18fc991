/**
 * The emperor's view of its vassals, as the control socket (`unicorn ctl` against an emperor) shows
 * it and acts on it. Implemented by the emperor; served by src/emperor/control.ts.
 */

/** A vassal's state in the emperor: the vassal reports the first five, the emperor decides the rest. */
export type VassalState = 'starting' | 'serving' | 'idle' | 'waking' | 'stopping' | 'failed' | 'put-aside' | 'waiting' | 'stopped';

export interface VassalSummary {
  name: string;
  file: string;
  state: VassalState;
  onDemand: boolean;
  pid: number | null;
  workers: number;
  rss: number;
  requests: number;
  lastRequestAt: number | null;
  reason: string | null;
  restarts: number;
  since: number;
}

export interface EmperorControl {
  vassals(): VassalSummary[];
  /** Each resolves to a message for a person, or rejects with a UnicornError naming the problem (unknown name: list the known ones). */
  reload(name: string): Promise<string>;
  stop(name: string): Promise<string>;
  start(name: string): Promise<string>;
  reloadAll(): Promise<string>;
  shutdown(quick: boolean): Promise<string>;
}
