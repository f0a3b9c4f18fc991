/**
 * --boot-attempts: an app that never finishes booting (a top-level await or a factory's promise
 * that never settles) stops the server with exit code 3, as an app that fails to load does, rather
 * than being killed and forked again for ever. Only while no worker of this arbiter has ever been
 * ready: once the app has booted, a boot that hangs (a database briefly unreachable) is retried
 * with the crash backoff, so that a deploy that worked is not stopped by a passing hang.
 */
import type { AppSpec } from '../config/app-spec';
import { formatDuration } from '../config/duration';
import { bootTimedOut, type UnicornError } from '../shared/errors';
import { resolveModule } from '../shared/resolve';

/**
 * Boot attempts are counted in time, not per worker: a worker is one attempt more than the boots
 * that had timed out when it was forked. Workers booting side by side (`-w 4`) are one attempt, and
 * their replacements the next, so that `--boot-attempts 3` gives a hang three chances to pass
 * whatever the number of workers.
 */
export class BootAttempts {
  private timedOut = 0;
  private everReady = false;

  /** The attempt a worker forked now makes. */
  next(): number {
    return this.timedOut + 1;
  }

  /** A worker is ready: from now on boot timeouts are retried. */
  ready(): void {
    this.everReady = true;
  }

  /** The boot of a worker forked as attempt `attempt` timed out. */
  timeOut(attempt: number): void {
    this.timedOut = Math.max(this.timedOut, attempt);
  }

  /** `limit` attempts (0: no limit) have timed out and no worker has ever been ready: fork no more. */
  exhausted(limit: number): boolean {
    return limit > 0 && !this.everReady && this.timedOut >= limit;
  }

  /** Why the server stops: the app, by module path and export, and what its last attempt waited on.
   *  With several apps (--mount), the one whose module the boot was in (`file`), else the first. */
  giveUp(
    apps: AppSpec[],
    cwd: string,
    settings: { workerBootTimeout: number; bootAttempts: number },
    waited: string,
    file?: string,
  ): UnicornError {
    const resolved = apps.map((app) => {
      const resolution = resolveModule(app.module, cwd);
      return { app, module: 'file' in resolution ? resolution.file : app.module };
    });
    const n = this.timedOut;
    const boots = n === 1 ? 'a boot was' : `${n} boots in a row were`;
    const why = `${boots} not ready within --worker-boot-timeout ${formatDuration(settings.workerBootTimeout)}, and no worker ever was (--boot-attempts ${settings.bootAttempts}); at the last timeout, ${waited}`;
    const culprit = resolved.find((r) => r.module === file) ?? resolved[0];
    if (!culprit) return bootTimedOut(undefined, 'static files only', why);
    const { app, module } = culprit;
    const exported =
      app.exportPath.length === 0 ? 'the default export' : `the export ${app.exportPath.join('.')}${app.factoryArgs ? '()' : ''}`;
    return bootTimedOut(app.raw, `${exported} of ${module}`, why);
  }
}
