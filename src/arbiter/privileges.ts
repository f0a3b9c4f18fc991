/**
 * The arbiter's side of --user and --group: the workers drop their privileges themselves, before
 * the app loads (worker/privileges.ts), so what they open later must be theirs to open. Every
 * process opens its log files itself, by path, and reopens them on USR1; so before each fork, and
 * after the arbiter's own reopening, the log files are created if missing and given to the workers'
 * user and group, as Gunicorn does. The arbiter, which stays root, writes them as well.
 */
import { closeSync, fchownSync, openSync } from 'node:fs';
import type { WorkerIdentity } from '../config/accounts';
import type { Logger } from '../shared/log';

/** What the log files are named in the settings. */
export interface LogFileSettings {
  errorLogfile: string;
  accessLogfile: string | undefined;
  umask: number | undefined;
}

/**
 * Create the error and access log files if missing (under --umask) and make them the workers'.
 * A file that cannot be given is logged once per path and reason: the workers' open then fails
 * their boot with the reason.
 */
export class LogFileOwnership {
  private readonly warned = new Set<string>();

  constructor(
    private readonly identity: WorkerIdentity | undefined,
    private readonly log: Logger,
  ) {}

  prepare(settings: LogFileSettings): void {
    const { identity } = this;
    if (!identity) return;
    for (const file of [settings.errorLogfile, settings.accessLogfile]) {
      if (!file || file === '-') continue;
      const previous = settings.umask === undefined ? undefined : process.umask(settings.umask);
      let fd: number | undefined;
      try {
        fd = openSync(file, 'a');
        fchownSync(fd, identity.uid, identity.gid);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        if (this.warned.has(`${file}\0${code}`)) continue;
        this.warned.add(`${file}\0${code}`);
        this.log.warn(
          { file, code },
          `Cannot give the log file ${file} to the workers (${identity.label}): ${code}; they may not be able to open it`,
        );
      } finally {
        if (fd !== undefined) closeSync(fd);
        if (previous !== undefined) process.umask(previous);
      }
    }
  }
}
