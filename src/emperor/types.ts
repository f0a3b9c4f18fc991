/**
 * The emperor's view of its vassals, as the control socket (`unicorn ctl` against an emperor) shows
 * it and acts on it. Implemented by the emperor; served by src/emperor/control.ts.
 */

// The summary lives in src/shared: the control protocol and the prometheus plugin carry it too.
export type { VassalState, VassalSummary } from '../shared/vassal-summary';

import type { VassalSummary } from '../shared/vassal-summary';

export interface EmperorControl {
  vassals(): VassalSummary[];
  /** Each resolves to a message for a person, or rejects with a UnicornError naming the problem (unknown name: list the known ones). */
  reload(name: string): Promise<string>;
  stop(name: string): Promise<string>;
  start(name: string): Promise<string>;
  reloadAll(): Promise<string>;
  shutdown(quick: boolean): Promise<string>;
}
