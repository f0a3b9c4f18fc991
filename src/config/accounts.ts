/**
 * Users and groups for `--user`, `--group` and `--initgroups`: looked up once, when the settings
 * are read, and combined into the identity the workers take before the app loads
 * (worker/privileges.ts). The arbiter stays who it was started as.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A user or group as the settings hold it: its id, and its name when the database has one. */
export interface Account {
  id: number;
  name: string | undefined;
  /** A user's login group, from its entry; undefined for a group, or a uid with no entry. */
  group?: number;
  /** That group's name, for the logs. */
  groupName?: string;
}

/** The largest id a user or group can have: (uid_t)-1 means "unchanged" to setuid(2). */
const MAX_ID = 0xfffffffe;

type Database = 'passwd' | 'group';

/**
 * One entry of the user or group database, by name or id: its fields split on `:`, or undefined
 * when there is none. Asked through `getent`, which goes through NSS as setuid's own lookups do
 * (LDAP, systemd's dynamic users), else read from /etc where there is no getent (macOS).
 */
function databaseEntry(database: Database, key: string): string[] | undefined {
  const result = spawnSync('getent', [database, key], { encoding: 'utf8', timeout: 5000 });
  if (!result.error) return result.status === 0 ? result.stdout.split('\n')[0]!.split(':') : undefined;
  const file = database === 'passwd' ? '/etc/passwd' : '/etc/group';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const entries = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'));
  return entries.find((fields) => fields[0] === key) ?? (/^\d+$/.test(key) ? entries.find((fields) => fields[2] === key) : undefined);
}

/** A name or id for `database`: the account, or why it is refused. A number with no entry is taken
 *  as the id it is (as Gunicorn does), without a name. */
function lookup(database: Database, raw: string): Account | { refused: string } {
  const key = raw.trim();
  const what = database === 'passwd' ? 'user' : 'group';
  if (key === '') return { refused: 'empty' };
  const numeric = /^\d+$/.test(key);
  if (numeric && Number(key) > MAX_ID) return { refused: `${key} is past the largest ${what} id, ${MAX_ID}` };
  // A name never holds a colon (the database's separator) or space, nor starts with a dash.
  if (!numeric && !/^[^\s:/-][^\s:/]*$/.test(key)) return { refused: `${JSON.stringify(key)} is not a ${what} name` };
  const entry = databaseEntry(database, key);
  if (!entry) return numeric ? { id: Number(key), name: undefined } : { refused: `no ${what} named ${JSON.stringify(key)} on this system` };
  const id = Number(entry[2]);
  if (!Number.isInteger(id)) return { refused: `the ${what} database's entry for ${JSON.stringify(key)} has no id` };
  if (database === 'group') return { id, name: entry[0] };
  const group = Number(entry[3]);
  if (!Number.isInteger(group)) return { id, name: entry[0] };
  return { id, name: entry[0], group, groupName: databaseEntry('group', String(group))?.[0] };
}

export const lookupUser = (raw: string) => lookup('passwd', raw);
export const lookupGroup = (raw: string) => lookup('group', raw);

/** `nobody`, or `1234` for an id with no name. */
export const accountName = (account: Account): string => account.name ?? String(account.id);

/** What the workers' identity is made of (a subset of the settings). */
export interface IdentitySettings {
  user: Account | undefined;
  group: Account | undefined;
  initgroups: boolean;
}

/** Who the workers run as when --user or --group is given. */
export interface WorkerIdentity {
  uid: number;
  gid: number;
  /** The user's name, for initgroups(3); undefined for a uid with no entry. */
  user: string | undefined;
  /** Supplementary groups: the user's, from the group database, or only `gid`. */
  initgroups: boolean;
  /** `nobody:nogroup (uid 65534, gid 65534)`, for the logs. */
  label: string;
}

interface Ids {
  uid: number;
  gid: number;
}

/** This process's user and group; undefined where there are none (Windows). */
export function currentIds(): Ids | undefined {
  return process.getuid && process.getgid ? { uid: process.getuid(), gid: process.getgid() } : undefined;
}

/**
 * The workers' identity: the --user (the arbiter's when not given), in the --group, else the user's
 * login group, else the arbiter's. Undefined when neither --user nor --group is given: the workers
 * are who the arbiter is.
 */
export function workerIdentity(settings: IdentitySettings, current: Ids | undefined = currentIds()): WorkerIdentity | undefined {
  const { user, group, initgroups } = settings;
  if ((!user && !group) || !current) return undefined;
  const uid = user?.id ?? current.uid;
  const gid = group?.id ?? user?.group ?? current.gid;
  const groupName = group ? accountName(group) : (user?.groupName ?? String(gid));
  const names = `${user ? accountName(user) : uid}:${groupName}`;
  return { uid, gid, user: user?.name, initgroups, label: `${names} (uid ${uid}, gid ${gid})` };
}

/**
 * Why the identity asked for cannot be had, or undefined: a combination no single setting's parser
 * can see. Only root can make its workers someone else.
 */
export function identityProblem(settings: IdentitySettings, current: Ids | undefined = currentIds()): string | undefined {
  const { user, group, initgroups } = settings;
  if (!user && !group) return initgroups ? '--initgroups sets the supplementary groups of the --user: give --user as well' : undefined;
  if (!current) return `--user and --group are not supported on ${process.platform}`;
  if (user && user.group === undefined && !group) {
    return `--user ${user.id} has no entry in the user database, so its group is not known: give --group as well`;
  }
  if (initgroups && !user?.name) {
    return `--initgroups looks up the groups of the --user by name, and ${user ? `--user ${user.id} has no entry in the user database` : 'no --user is given'}`;
  }
  const identity = workerIdentity(settings, current)!;
  const changes = identity.uid !== current.uid || identity.gid !== current.gid || initgroups;
  if (changes && current.uid !== 0) {
    const asked = [user && `--user ${accountName(user)}`, group && `--group ${accountName(group)}`, initgroups && '--initgroups']
      .filter(Boolean)
      .join(' ');
    return `${asked} asks the workers to run as ${identity.label}, which needs unicorn to be started as root; it runs as uid ${current.uid}`;
  }
  return undefined;
}

/** --umask: octal with a leading 0 or 0o (`0022`, `0o22`), hexadecimal (`0x12`) or decimal (`18`), as
 *  Gunicorn reads it; undefined when it is none of these or past 0777. */
export function parseUmask(raw: string): number | undefined {
  const value = raw.trim().toLowerCase();
  let mask: number;
  if (/^0o?[0-7]+$/.test(value)) mask = parseInt(value.replace(/^0o?/, '') || '0', 8);
  else if (/^0x[0-9a-f]+$/.test(value)) mask = parseInt(value.slice(2), 16);
  else if (/^(0|[1-9]\d*)$/.test(value)) mask = Number(value);
  else return undefined;
  return mask <= 0o777 ? mask : undefined;
}

/** `0022`: a mask as `umask` prints it. */
export const formatUmask = (mask: number): string => `0${mask.toString(8).padStart(3, '0')}`;
