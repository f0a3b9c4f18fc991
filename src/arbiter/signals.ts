/**
 * The signals the arbiter acts on, caught from the process's first moment. Until the arbiter's loop
 * takes them (`deliverSignals`), they wait in a queue: one that came while unicorn loaded its code,
 * read its configuration, ran `onStarting` or bound its sockets would otherwise end the process by
 * its default action, with no log line, and leave the pidfile and the control socket behind.
 * bin/unicorn catches them before it loads anything else; this module imports nothing, so that
 * doing so costs nothing.
 */

/** The arbiter's signals (docs/SIGNALS.md); what each asks for is in actions.ts. */
export const ARBITER_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

export type ArbiterSignal = (typeof ARBITER_SIGNALS)[number];

const listeners = new Map<ArbiterSignal, () => void>();
const queued: ArbiterSignal[] = [];
let deliver: ((signal: ArbiterSignal) => void) | undefined;

/** Queue the arbiter's signals from now on. Only enqueues: no logging, no action. */
export function catchSignals(): void {
  if (listeners.size > 0) return;
  for (const signal of ARBITER_SIGNALS) {
    const listener = () => (deliver ? deliver(signal) : queued.push(signal));
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
}

/** From now on each signal goes to `to`, beginning with those that came before. */
export function deliverSignals(to: (signal: ArbiterSignal) => void): void {
  catchSignals();
  deliver = to;
  for (let signal = queued.shift(); signal; signal = queued.shift()) to(signal);
}

/**
 * This process is not an arbiter after all (`unicorn ctl`, --print-config, --check-config): the
 * signals take their default action again, and one that came meanwhile takes it now.
 */
export function releaseSignals(): void {
  for (const [signal, listener] of listeners) process.off(signal, listener);
  listeners.clear();
  for (let signal = queued.shift(); signal; signal = queued.shift()) process.kill(process.pid, signal);
}
