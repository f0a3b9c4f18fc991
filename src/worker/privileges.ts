/**
 * --user, --group, --initgroups and --umask in the worker: applied first thing, before hooks, the
 * access log or the app are loaded, so that none of them runs with the arbiter's privileges. The
 * listening sockets were bound by the arbiter and are passed as descriptors, which need none: a
 * worker running as `nobody` accepts on port 80.
 */
import { type IdentitySettings, workerIdentity } from '../config/accounts';
import type { Logger } from '../shared/log';

/** process, with initgroups (POSIX), which @types/node does not declare. */
const posix = process as NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };

/**
 * Become the workers' user: supplementary groups first (the user's own with --initgroups, else
 * only the group), then the group, then the user, since once the user is no longer root the others
 * cannot be changed. Throws with the step that failed and why.
 */
export function dropPrivileges(settings: IdentitySettings & { umask: number | undefined }, log: Logger): void {
  if (settings.umask !== undefined) process.umask(settings.umask);
  const identity = workerIdentity(settings);
  if (!identity || !process.setuid || !process.setgid || !process.setgroups) return;
  const { uid, gid, user } = identity;
  const step = (what: string, act: () => void) => {
    try {
      act();
    } catch (err) {
      throw new Error(`cannot run as ${identity.label}: ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  };
  if (identity.initgroups && user && posix.initgroups) step(`initgroups(${user}, ${gid})`, () => posix.initgroups!(user, gid));
  else if (gid !== process.getgid!()) step(`setgroups([${gid}])`, () => process.setgroups!([gid]));
  if (gid !== process.getgid!()) step(`setgid(${gid})`, () => process.setgid!(gid));
  if (uid !== process.getuid!()) step(`setuid(${uid})`, () => process.setuid!(uid));
  log.debug({ uid, gid, groups: process.getgroups!() }, `Running as ${identity.label}`);
}

/**
 * A boot that failed for want of permission after the drop (an app, a plugin or a log file the
 * workers' user cannot read or write) says who was refused: the same files load fine as root.
 */
export function explainDenied(err: unknown, settings: IdentitySettings): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const identity = workerIdentity(settings);
  if (!identity || (code !== 'EACCES' && code !== 'EPERM') || !(err instanceof Error)) return err;
  return new Error(`${err.message} (the worker runs as ${identity.label}, from --user and --group)`, { cause: err });
}
