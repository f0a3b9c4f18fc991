/**
 * The pidfile (`-p, --pid FILE`): written atomically at start, refused while it names a running
 * process, removed at exit only if it still holds our pid (a successor started by USR2 may have
 * taken it over).
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { UnicornError } from './errors';
import { ExitCode } from './exit-codes';

/** The pid a pidfile holds, or undefined when it is missing or holds no pid. */
export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Process `pid` exists and has not exited: a zombie (exited, not yet reaped) is not running. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    if (process.platform !== 'linux') return true;
    // Gone since kill(0); any other failure (no descriptor free to read it) is no news of an exit.
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ESRCH';
  }
}

/**
 * Write our pid to `file`, atomically (a reader never sees it half written). Refuses when the file
 * names another running process; a stale one (its process is gone) is replaced. Returns the stale
 * pid replaced, if any, for the log.
 */
export function writePidfile(file: string, pid: number = process.pid): { replaced?: number } {
  const existing = readPid(file);
  if (existing !== undefined && existing !== pid && isRunning(existing)) {
    throw new UnicornError(
      'UNICORN_PIDFILE_IN_USE',
      `the pidfile ${file} names a running process (pid ${existing}): is unicorn already running? Stop it, or give another --pid`,
      ExitCode.ERROR,
    );
  }
  const temporary = `${file}.${pid}.tmp`;
  try {
    writeFileSync(temporary, `${pid}\n`);
    renameSync(temporary, file);
  } catch (err) {
    throw new UnicornError('UNICORN_PIDFILE_WRITE_FAILED', `cannot write the pidfile ${file}: ${(err as Error).message}`, ExitCode.ERROR, {
      cause: err,
    });
  }
  return existing !== undefined && existing !== pid ? { replaced: existing } : {};
}

/** Remove `file` if it still holds `pid`. */
export function removePidfile(file: string, pid: number = process.pid): void {
  if (readPid(file) !== pid) return;
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

/** Move `from` over `to` (atomic), if `from` holds our pid: a successor taking over the pidfile. */
export function takeOverPidfile(from: string, to: string, pid: number = process.pid): boolean {
  if (readPid(from) !== pid) return false;
  renameSync(from, to);
  return true;
}
