/** Where unicorn listens and what it leaves on disk: addresses, backlog, SO_REUSEPORT, pidfile, directory. */

import { badValue } from '../../shared/errors';
import { reusePortProblem } from '../../shared/reuse-port-support';
import { ADDRESS_FORMS, type BindAddress, parseAddress } from '../address';
import { directory, filePath, OFF_SWITCH, wholeNumber, yesNo } from './parsers';
import { type Parser, spec } from './spec';

const address: Parser<BindAddress> = (raw, ctx) => {
  const parsed = parseAddress(raw, ctx.cwd);
  return typeof parsed === 'string' ? { refused: parsed } : parsed;
};

/** --reuse-port needs a Node and a system that have it; false is always accepted. */
const reusePort: Parser<boolean> = (raw, ctx) => {
  const value = yesNo(raw, ctx);
  const problem = value === true ? reusePortProblem() : undefined;
  return problem ? { refused: problem } : value;
};

/** `PORT` (the PaaS convention) moves the default bind to every interface on that port. */
const defaultBind = (env: NodeJS.ProcessEnv): BindAddress[] => {
  if (env.PORT === undefined || env.PORT === '') return [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }];
  const port = env.PORT.trim();
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw badValue('PORT', env.PORT, 'a port number (0 to 65535)');
  return [{ kind: 'tcp', host: '0.0.0.0', port: Number(port) }];
};

/** The server section. */
export const SERVER_SETTINGS = [
  spec({
    key: 'bind',
    flags: '-b, --bind <ADDRESS>',
    section: 'server',
    fixedAtStart: true,
    description: `address to listen at, repeatable: ${ADDRESS_FORMS}`,
    accepted: ADDRESS_FORMS,
    repeatable: true,
    parse: address,
    defaultValue: defaultBind,
    defaultEnv: 'PORT',
    defaultText: '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set',
  }),
  spec({
    key: 'backlog',
    flags: '--backlog <N>',
    section: 'server',
    description: 'connections the kernel queues for each listener before refusing more',
    accepted: 'a whole number of at least 1',
    parse: wholeNumber(1),
    defaultValue: () => 2048,
    defaultText: '2048',
  }),
  spec({
    key: 'reusePort',
    flags: '--reuse-port',
    section: 'server',
    fixedAtStart: true,
    description:
      'give each worker a SO_REUSEPORT socket of its own on every TCP address, which the kernel balances connections over (docs/os.md)',
    ...OFF_SWITCH,
    parse: reusePort,
  }),
  spec({
    key: 'pid',
    flags: '-p, --pid <FILE>',
    section: 'server',
    description: "write the arbiter's pid to this file; refuse to start while it names a running process",
    accepted: 'a file path in an existing directory',
    parse: filePath,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'chdir',
    flags: '--chdir <DIR>',
    section: 'server',
    description: 'change to this directory before loading the app',
    accepted: 'an existing directory',
    parse: directory,
    defaultValue: () => undefined,
    defaultText: 'the current directory',
  }),
] as const;
