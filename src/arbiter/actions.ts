/**
 * What a signal or a `unicorn ctl` request asks the arbiter to do, as one type: both routes map
 * into it here, and the arbiter performs it in one place (perform.ts), so that a signal and its
 * command cannot come to mean different things (docs/SIGNALS.md, docs/ctl.md).
 */
import type { ControlRequest } from '../control/protocol';
import type { ArbiterSignal } from './signals';

export type Action =
  /** TERM (graceful), INT and QUIT, `ctl shutdown [--quick]`; a second one makes a stop quick. */
  | { kind: 'stop'; graceful: boolean }
  /** HUP, `ctl reload`. */
  | { kind: 'reload' }
  /** `ctl scale N`: a count; never below one. */
  | { kind: 'scale'; to: number }
  /** TTIN and TTOU (one), `ctl add` and `remove` (N): a change of the count; never below one. */
  | { kind: 'scale'; by: number }
  /** WINCH: every worker stops; the arbiter keeps its listeners. */
  | { kind: 'stop-workers' }
  /** USR1, `ctl reopen-logs`. */
  | { kind: 'reopen-logs' }
  /** USR2: a new arbiter starts on the same sockets. */
  | { kind: 'upgrade' }
  /** `ctl kill PID`: that worker is replaced, as recycling does. */
  | { kind: 'replace'; pid: number }
  /** `ctl status` and `stats`. */
  | { kind: 'stats' };

/** The signals the arbiter acts on, and what each one asks for. */
export const SIGNAL_ACTIONS: Readonly<Record<ArbiterSignal, Action>> = {
  SIGTERM: { kind: 'stop', graceful: true },
  SIGINT: { kind: 'stop', graceful: false },
  SIGQUIT: { kind: 'stop', graceful: false },
  SIGHUP: { kind: 'reload' },
  SIGTTIN: { kind: 'scale', by: 1 },
  SIGTTOU: { kind: 'scale', by: -1 },
  SIGUSR1: { kind: 'reopen-logs' },
  SIGUSR2: { kind: 'upgrade' },
  SIGWINCH: { kind: 'stop-workers' },
};

/** Why a signal that came is not taken as asking for anything, if it is not. */
export function ignoredSignal(signal: ArbiterSignal, attachedToTerminal: boolean): string | undefined {
  // A terminal sends WINCH to its foreground processes whenever its window is resized.
  const terminal = signal === 'SIGWINCH' && attachedToTerminal;
  return terminal ? 'Ignoring WINCH: unicorn is attached to a terminal, which sends it on every resize' : undefined;
}

/** What a control request asks for. */
export function actionOfRequest(request: ControlRequest): Action {
  switch (request.command) {
    case 'shutdown':
      return { kind: 'stop', graceful: !request.quick };
    case 'reload':
      return { kind: 'reload' };
    case 'scale':
      return { kind: 'scale', to: request.count };
    case 'add':
      return { kind: 'scale', by: request.count };
    case 'remove':
      return { kind: 'scale', by: -request.count };
    case 'kill':
      return { kind: 'replace', pid: request.pid };
    case 'reopen-logs':
      return { kind: 'reopen-logs' };
    case 'stats':
      return { kind: 'stats' };
  }
}

/** `reload`, `remove 2`, `kill 1234`: an action as a refusal names it, in the words of its command. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'stop':
      return action.graceful ? 'shutdown' : 'shutdown --quick';
    case 'scale':
      if ('to' in action) return `scale ${action.to}`;
      return action.by >= 0 ? `add ${action.by}` : `remove ${-action.by}`;
    case 'replace':
      return `kill ${action.pid}`;
    case 'stop-workers':
      return 'stopping every worker (WINCH)';
    case 'upgrade':
      return 're-exec (USR2)';
    default:
      return action.kind;
  }
}

/** `1 worker`, `3 workers`: for replies a person reads. */
export const nWorkers = (count: number) => `${count} worker${count === 1 ? '' : 's'}`;

/** The count a scale asks for from `target`, or why it is refused: the server keeps at least one
 *  worker (only WINCH stops them all). */
export function scaledCount(action: Extract<Action, { kind: 'scale' }>, target: number): { count: number } | { refused: string } {
  const count = 'to' in action ? action.to : target + action.by;
  if (count >= 1) return { count };
  const runs = `the server runs ${nWorkers(target)}`;
  const why =
    'to' in action
      ? 'the server never goes below one worker; expected at least 1'
      : target <= 1
        ? `${runs}, and never goes below one`
        : `${runs} and keeps at least one; expected at most ${target - 1}`;
  return { refused: `${describeAction(action)} is not accepted: ${why}` };
}

/** What is done while the server stops: stopping it (again) and reading its state. */
export const doneWhileStopping = (action: Action) => action.kind === 'stop' || action.kind === 'stats';
