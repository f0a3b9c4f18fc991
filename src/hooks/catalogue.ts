/**
 * The closed list of lifecycle hooks: where each runs, and what its failure (an exception, a
 * rejection, or running past --hook-timeout) does. Hooks whose failure stops something stop at the
 * first failing plugin; the others log the failure and go on to the next plugin.
 */
export interface HookSpec {
  process: 'arbiter' | 'worker';
  /** `stops`: the failure is an error for the caller (see types.ts for what each stops);
   *  `logged`: logged, and the next plugin's hook still runs. */
  failure: 'stops' | 'logged';
}

export const HOOKS = {
  onStarting: { process: 'arbiter', failure: 'stops' },
  whenReady: { process: 'arbiter', failure: 'logged' },
  onReload: { process: 'arbiter', failure: 'stops' },
  preFork: { process: 'arbiter', failure: 'stops' },
  postFork: { process: 'worker', failure: 'stops' },
  postWorkerInit: { process: 'worker', failure: 'stops' },
  workerInt: { process: 'worker', failure: 'logged' },
  workerAbort: { process: 'worker', failure: 'logged' },
  preExec: { process: 'arbiter', failure: 'stops' },
  preRequest: { process: 'worker', failure: 'stops' },
  postRequest: { process: 'worker', failure: 'logged' },
  childExit: { process: 'arbiter', failure: 'logged' },
  workerExit: { process: 'worker', failure: 'logged' },
  nworkersChanged: { process: 'arbiter', failure: 'logged' },
  onStopping: { process: 'arbiter', failure: 'logged' },
  onIdle: { process: 'arbiter', failure: 'logged' },
  onWake: { process: 'arbiter', failure: 'logged' },
  onExit: { process: 'arbiter', failure: 'logged' },
} as const satisfies Record<string, HookSpec>;

/** A hook's name; types.ts checks that `Hooks` declares exactly these. */
export type HookName = keyof typeof HOOKS;

export const HOOK_NAMES = Object.keys(HOOKS) as HookName[];

export const isHookName = (name: string): name is HookName => Object.hasOwn(HOOKS, name);
