/** Who the workers run as, and the umask of what unicorn creates (config/accounts.ts looks the names up). */

import { type Account, accountName, formatUmask, lookupGroup, lookupUser, parseUmask } from '../accounts';
import { OFF_SWITCH } from './parsers';
import { type Parser, spec } from './spec';

const user: Parser<Account | undefined> = (raw) => lookupUser(raw);
const group: Parser<Account | undefined> = (raw) => lookupGroup(raw);
const umask: Parser<number | undefined> = (raw) => parseUmask(raw) ?? { refused: '' };

/** The privileges section. */
export const PRIVILEGES_SETTINGS = [
  spec({
    key: 'user',
    flags: '-u, --user <USER>',
    section: 'privileges',
    fixedAtStart: true,
    description: 'run the workers as this user, by name or uid, once the arbiter has bound the sockets; needs root',
    accepted: 'a user name or uid',
    parse: user,
    defaultValue: () => undefined,
    defaultText: "the arbiter's",
    display: accountName,
  }),
  spec({
    key: 'group',
    flags: '-g, --group <GROUP>',
    section: 'privileges',
    fixedAtStart: true,
    description: 'run the workers in this group, by name or gid',
    accepted: 'a group name or gid',
    parse: group,
    defaultValue: () => undefined,
    defaultText: "the --user's login group, else the arbiter's",
    display: accountName,
  }),
  spec({
    key: 'initgroups',
    flags: '--initgroups',
    section: 'privileges',
    fixedAtStart: true,
    description: "give the workers the --user's supplementary groups from the group database, not only --group",
    ...OFF_SWITCH,
  }),
  spec({
    key: 'umask',
    flags: '-m, --umask <MASK>',
    section: 'privileges',
    fixedAtStart: true,
    description: 'the file mode mask of the unix socket files unicorn binds and of the workers (files the app creates)',
    accepted: 'a mask of at most 0777: octal with a leading 0 (0022, 0o22), hexadecimal (0x12) or decimal (18)',
    parse: umask,
    defaultValue: () => undefined,
    defaultText: 'the umask unicorn starts with',
    display: formatUmask,
  }),
] as const;
