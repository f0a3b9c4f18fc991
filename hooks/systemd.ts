/**
 * systemd: tell the service manager what the arbiter is doing, for `Type=notify` (and
 * `Type=notify-reload`) units, through sd_notify(3):
 *
 * - READY=1 once every worker is ready, and again after each reload;
 * - RELOADING=1 (with MONOTONIC_USEC) when a reload begins;
 * - STOPPING=1 as soon as a stop begins (a signal, `unicorn ctl shutdown`, a failed start: onStopping);
 * - STATUS= with the workers serving, on each change, and `idle` while --idle-timeout has stopped them
 *   (the unit stays active: the arbiter holds the sockets, and the watchdog pings on);
 * - WATCHDOG=1 every half WATCHDOG_USEC, while the arbiter's loop turns, when systemd asks for it.
 *
 * Without NOTIFY_SOCKET (not started by systemd) it says so once and does nothing.
 */
import type { ArbiterView, Hooks } from '../src/hooks/types';
import { type Notifier, type NotifyState, openNotifier } from './internal/sd-notify';

export interface SystemdOptions {
  /** Ping the watchdog when WATCHDOG_USEC asks for it (default true). */
  watchdog?: boolean;
}

export function systemd(options: SystemdOptions = {}): Hooks {
  if (options.watchdog !== undefined && typeof options.watchdog !== 'boolean') {
    throw new Error(`the option watchdog ${JSON.stringify(options.watchdog)} is not accepted: expected true or false`);
  }
  let notifier: Notifier | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let stopping = false;

  const send = (arbiter: ArbiterView, state: NotifyState): Promise<void> | undefined =>
    notifier?.notify(state).catch((err: Error) => arbiter.log.warn({ err }, `systemd: ${err.message}`));

  const status = (arbiter: ArbiterView): string => {
    const serving = arbiter.workers().filter((w) => w.state === 'ready' || w.state === 'retiring').length;
    if (!stopping && !arbiter.reloading && arbiter.idleState === 'idle') return 'idle: no worker runs; the next connection starts them';
    const doing = stopping ? 'stopping' : arbiter.reloading ? 'reloading' : arbiter.idleState;
    return `${doing}: ${serving} of ${arbiter.workerCount} workers ready`;
  };

  return {
    onStarting(arbiter) {
      notifier = openNotifier();
      if (!notifier) {
        arbiter.log.info('systemd: NOTIFY_SOCKET is not set (not started by systemd); nothing to notify');
        return;
      }
      const usec = Number(process.env.WATCHDOG_USEC);
      const forUs = !process.env.WATCHDOG_PID || Number(process.env.WATCHDOG_PID) === process.pid;
      if (options.watchdog !== false && usec > 0 && forUs) {
        // From a timer in the arbiter: the pings stop when its event loop does, and systemd acts.
        watchdog = setInterval(() => void send(arbiter, { WATCHDOG: 1 }), Math.max(1, Math.floor(usec / 2000)));
        watchdog.unref();
        arbiter.log.info({ intervalMs: Math.floor(usec / 2000) }, `systemd: pinging the watchdog every ${Math.floor(usec / 2000)}ms`);
      }
      return send(arbiter, { MAINPID: process.pid, STATUS: 'starting' });
    },
    whenReady(arbiter) {
      return send(arbiter, { READY: 1, STATUS: status(arbiter) });
    },
    onReload(arbiter) {
      // Type=notify-reload wants the time the reload began, on CLOCK_MONOTONIC (libuv's hrtime).
      return send(arbiter, { RELOADING: 1, MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n), STATUS: status(arbiter) });
    },
    nworkersChanged(arbiter) {
      return send(arbiter, { STATUS: status(arbiter) });
    },
    childExit(arbiter) {
      return send(arbiter, { STATUS: status(arbiter) });
    },
    onIdle(arbiter) {
      return send(arbiter, { STATUS: status(arbiter) });
    },
    onWake(arbiter) {
      return send(arbiter, { STATUS: status(arbiter) });
    },
    onStopping(arbiter) {
      // Once: after onExit (a hook before it ran past the stop's deadline) the notifier is closed.
      if (stopping) return;
      stopping = true;
      return send(arbiter, { STOPPING: 1, STATUS: status(arbiter) });
    },
    async onExit(arbiter) {
      clearInterval(watchdog);
      // An exit without a stop (a failure after onStarting) tells systemd here.
      const told = stopping;
      stopping = true;
      await send(arbiter, told ? { STATUS: 'stopped' } : { STOPPING: 1, STATUS: 'stopped' });
      notifier?.close();
    },
  };
}

export default systemd;
