import pino from 'pino';
import { activatedListeners, describeUnusedBind } from '../../src/arbiter/activation';
import type { Listener } from '../../src/arbiter/listeners';
import { bindReusePort, PerWorkerSockets } from '../../src/arbiter/reuse-port';
import { type Account, formatUmask, identityProblem, lookupGroup, lookupUser, parseUmask, workerIdentity } from '../../src/config/accounts';
import { describeSettings, resolveLayers, resolveSettings } from '../../src/config/settings';
import type { UnicornConfig } from '../../src/define';
import { reusePortProblem } from '../../src/shared/reuse-port-support';
import { refusal } from '../helpers/refusal';

const ROOT = { uid: 0, gid: 0 };
const nobody: Account = { id: 65534, name: 'nobody', group: 65534, groupName: 'nogroup' };
const nogroup: Account = { id: 65534, name: 'nogroup' };

describe('--umask', () => {
  it.each([
    ['0', 0],
    ['0022', 0o22],
    ['022', 0o22],
    ['0o027', 0o27],
    ['0x12', 0x12],
    ['18', 18],
    ['0777', 0o777],
  ])('reads %s as Gunicorn does', (raw, mask) => {
    expect(parseUmask(raw)).toBe(mask);
  });

  it.each(['0778', '01000', '512', '-1', 'u=rwx', '', '0o'])('refuses %s', (raw) => {
    expect(parseUmask(raw)).toBeUndefined();
  });

  it('is shown as umask prints it, and refused naming the flag and what is accepted', () => {
    expect(formatUmask(0o22)).toBe('0022');
    expect(formatUmask(0)).toBe('0000');
    expect(resolveSettings('app', { umask: '0007' }, {}).settings.umask).toBe(0o7);
    expect(describeSettings(resolveSettings('app', { umask: '0007' }, {}), 'command line')).toMatch(/^umask\s+0007\s+--umask$/m);
    expect(refusal(() => resolveSettings('app', { umask: '0999' }, {})).message).toBe(
      '--umask "0999" is not accepted: expected a mask of at most 0777: octal with a leading 0 (0022, 0o22), hexadecimal (0x12) or decimal (18)',
    );
  });
});

describe('--user and --group', () => {
  it('looks users and groups up by name or id in the system database', () => {
    expect(lookupUser('root')).toEqual({ id: 0, name: 'root', group: 0, groupName: 'root' });
    expect(lookupUser('0')).toMatchObject({ id: 0, name: 'root' });
    expect(lookupGroup('root')).toEqual({ id: 0, name: 'root' });
    // An id with no entry is taken as it is, without a name (as Gunicorn does).
    expect(lookupUser('4000000000')).toEqual({ id: 4000000000, name: undefined });
  });

  it('refuses a name with no entry, naming it, and ids past the largest', () => {
    expect(lookupUser('no-such-user-here')).toEqual({ refused: 'no user named "no-such-user-here" on this system' });
    expect(lookupGroup('no-such-group-here')).toEqual({ refused: 'no group named "no-such-group-here" on this system' });
    expect(lookupUser('4294967295')).toEqual({ refused: '4294967295 is past the largest user id, 4294967294' });
    expect(lookupUser('a:b')).toEqual({ refused: '"a:b" is not a user name' });
    expect(lookupUser('-x')).toEqual({ refused: '"-x" is not a user name' });
    expect(refusal(() => resolveSettings('app', { user: 'no-such-user-here' }, {})).message).toBe(
      '--user "no-such-user-here" is not accepted: expected a user name or uid (no user named "no-such-user-here" on this system)',
    );
  });

  it("runs the workers in the user's login group unless --group is given", () => {
    expect(workerIdentity({ user: nobody, group: undefined, initgroups: false }, ROOT)).toEqual({
      uid: 65534,
      gid: 65534,
      user: 'nobody',
      initgroups: false,
      label: 'nobody:nogroup (uid 65534, gid 65534)',
    });
    expect(workerIdentity({ user: nobody, group: { id: 33, name: 'www-data' }, initgroups: true }, ROOT)).toMatchObject({
      gid: 33,
      initgroups: true,
      label: 'nobody:www-data (uid 65534, gid 33)',
    });
    expect(workerIdentity({ user: undefined, group: nogroup, initgroups: false }, ROOT)).toMatchObject({ uid: 0, gid: 65534 });
    expect(workerIdentity({ user: undefined, group: undefined, initgroups: false }, ROOT)).toBeUndefined();
  });

  it('refuses what cannot be had, saying why', () => {
    const none = { user: undefined, group: undefined, initgroups: false };
    expect(identityProblem(none, { uid: 1000, gid: 1000 })).toBeUndefined();
    expect(identityProblem({ ...none, user: nobody }, ROOT)).toBeUndefined();
    expect(identityProblem({ ...none, user: nobody }, { uid: 1000, gid: 1000 })).toBe(
      '--user nobody asks the workers to run as nobody:nogroup (uid 65534, gid 65534), which needs unicorn to be started as root; it runs as uid 1000',
    );
    // Asking to be who one is already needs nothing.
    expect(identityProblem({ ...none, user: { id: 1000, name: 'me', group: 1000 } }, { uid: 1000, gid: 1000 })).toBeUndefined();
    expect(identityProblem({ ...none, user: { id: 1234, name: undefined } }, ROOT)).toBe(
      '--user 1234 has no entry in the user database, so its group is not known: give --group as well',
    );
    expect(identityProblem({ ...none, user: { id: 1234, name: undefined }, group: nogroup }, ROOT)).toBeUndefined();
    expect(identityProblem({ ...none, initgroups: true }, ROOT)).toBe(
      '--initgroups sets the supplementary groups of the --user: give --user as well',
    );
    expect(identityProblem({ user: { id: 1234, name: undefined }, group: nogroup, initgroups: true }, ROOT)).toMatch(
      /^--initgroups looks up the groups of the --user by name, and --user 1234 has no entry/,
    );
  });

  it('shows the names in --print-config', () => {
    const resolved = resolveSettings('app', { user: 'root', group: '0' }, {});
    const printed = describeSettings(resolved, 'command line');
    expect(printed).toMatch(/^user\s+root\s+--user$/m);
    expect(printed).toMatch(/^group\s+root\s+--group$/m);
  });
});

describe('the config file', () => {
  it('gives users and groups by name or id, and the umask as a number', () => {
    const file: UnicornConfig = { user: 'root', group: 0, initgroups: true, umask: 0o27, reusePort: true };
    const { settings, sources } = resolveLayers(
      { raw: 'app', source: 'command line' },
      [{ label: 'unicorn.config.mjs: ', names: 'keys', values: file }],
      {},
    );
    expect(settings).toMatchObject({
      user: { id: 0, name: 'root' },
      group: { id: 0, name: 'root' },
      initgroups: true,
      umask: 0o27,
      reusePort: true,
    });
    expect(sources.umask).toBe('unicorn.config.mjs: umask');
  });
});

describe('--reuse-port', () => {
  it('is refused on a Node or a system without it, saying what it needs', () => {
    expect(reusePortProblem('24.1.0', 'linux')).toBeUndefined();
    expect(reusePortProblem('22.12.0', 'freebsd')).toBeUndefined();
    expect(reusePortProblem('22.11.0', 'linux')).toBe(
      'Node.js 22.11.0 cannot bind with SO_REUSEPORT; it needs 22.12 or newer (23.1 on the 23 line)',
    );
    expect(reusePortProblem('23.0.0', 'linux')).toMatch(/^Node.js 23.0.0 cannot bind with SO_REUSEPORT/);
    expect(reusePortProblem('24.1.0', 'darwin')).toMatch(/^darwin does not balance connections over SO_REUSEPORT sockets/);
  });

  /** Real SO_REUSEPORT sockets on loopback (bound, not listening), without a worker. */
  function sockets(): { perWorker: PerWorkerSockets; listener: Listener } {
    const first = bindReusePort('127.0.0.1', 0);
    if (typeof first === 'string') throw new Error(first);
    const listener: Listener = {
      address: { kind: 'tcp', host: '127.0.0.1', port: 0 },
      url: 'http://127.0.0.1:0',
      handle: first,
      reusePort: true,
    };
    const shared: Listener = { address: { kind: 'unix', path: '/x' }, url: 'unix:/x', handle: { fd: -1, close() {} } };
    return { perWorker: new PerWorkerSockets([listener, shared], pino({ enabled: false })), listener };
  }

  it('gives each worker a socket of its own, and a replaced worker’s socket to its replacement', () => {
    const { perWorker, listener } = sockets();
    const counting = new Set([1, 2]);
    const counts = (id: number) => counting.has(id);
    try {
      const first = perWorker.handleFor(0, 1, counts);
      const second = perWorker.handleFor(0, 2, counts);
      expect(first).toBe(listener.handle);
      expect(second).not.toBe(first);
      expect(second.fd).toBeGreaterThan(0);
      // Its first ask settles a worker's socket; a listener without --reuse-port is shared.
      expect(perWorker.handleFor(0, 2, counts)).toBe(second);
      expect(perWorker.handleFor(1, 2, counts).fd).toBe(-1);
      // Worker 2 is being replaced (recycled, or of the previous configuration): worker 3 shares its socket.
      counting.delete(2);
      counting.add(3);
      expect(perWorker.handleFor(0, 3, counts)).toBe(second);
      expect(perWorker.size).toBe(2);
      // A crashed worker's socket waits for its replacement while the target needs it...
      perWorker.release(3, 2);
      perWorker.release(2, 2);
      expect(perWorker.size).toBe(2);
      counting.add(4);
      expect(perWorker.handleFor(0, 4, counts)).toBe(second);
      // ...and is closed once no worker holds it and the target has gone down.
      perWorker.release(4, 1);
      expect(perWorker.size).toBe(1);
      // When the worker on the listener's own socket is the one that goes, the next socket becomes
      // the listener's (what a USR2 successor inherits).
      counting.add(5);
      const fifth = perWorker.handleFor(0, 5, counts);
      expect(fifth).not.toBe(first);
      perWorker.release(1, 1);
      expect(perWorker.size).toBe(1);
      expect(listener.handle).toBe(fifth);
    } finally {
      perWorker.closeAll();
      listener.handle.close();
    }
  });
  it('lets go of a stopped worker’s socket at once when no other worker accepts on it and fewer are needed', () => {
    const { perWorker, listener } = sockets();
    const accepting = new Set([1, 2, 3]);
    const accepts = (id: number) => accepting.has(id);
    try {
      const first = perWorker.handleFor(0, 1, accepts);
      const second = perWorker.handleFor(0, 2, accepts);
      perWorker.handleFor(0, 3, accepts);
      // A recycled worker's replacement shares its socket: the socket stays.
      accepting.add(4);
      expect(perWorker.handleFor(0, 4, (id) => id !== 2 && accepts(id))).toBe(second);
      accepting.delete(2);
      expect(perWorker.withdraw(2, 3, accepts, false)).toBeUndefined();
      // The target still needs every socket (the stopped worker will be replaced): it stays.
      accepting.delete(3);
      expect(perWorker.withdraw(3, 3, accepts, false)).toBeUndefined();
      // Fewer workers (TTOU): the oldest's socket goes now, for its worker to take what is queued
      // and close; the next socket becomes the listener's own.
      accepting.delete(1);
      const withdrawn = perWorker.withdraw(1, 2, accepts, false)!;
      expect([...withdrawn]).toEqual([[0, first]]);
      expect(perWorker.size).toBe(2);
      expect(listener.handle).toBe(second);
      // Its worker gets no socket any more, and its exit closes nothing else.
      perWorker.release(1, 2);
      expect(perWorker.size).toBe(2);
      perWorker.handedOver(1, first);
      expect(first.fd).toBe(-1);
      // While a USR2 successor shares the first sockets, they stay; the others go.
      accepting.clear();
      expect(perWorker.withdraw(2, 0, accepts, true)).toBeUndefined();
      expect(perWorker.withdraw(4, 0, accepts, true)).toBeUndefined();
      expect(perWorker.withdraw(3, 0, accepts, true)).toBeDefined();
      expect(perWorker.size).toBe(1);
    } finally {
      perWorker.closeAll();
      listener.handle.close();
    }
  });
});

describe('systemd socket activation', () => {
  it('takes only the sockets passed to this process, and clears the variables either way', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid + 1), LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b', OTHER: 'kept' };
    expect(activatedListeners(env)).toBeUndefined();
    expect(env).toEqual({ OTHER: 'kept' });
    expect(activatedListeners({ LISTEN_PID: String(process.pid), LISTEN_FDS: '0' })).toBeUndefined();
    expect(activatedListeners({})).toBeUndefined();
  });

  it('refuses a count that is not one', () => {
    expect(refusal(() => activatedListeners({ LISTEN_PID: String(process.pid), LISTEN_FDS: 'two' })).message).toBe(
      'LISTEN_FDS "two" is not accepted: expected the number of sockets systemd passes from file descriptor 3 on: a whole number',
    );
  });

  it('says when --bind names addresses the .socket unit does not', () => {
    const passed = [{ url: 'http://127.0.0.1:8080' }, { url: 'unix:/run/app.sock' }] as Listener[];
    expect(describeUnusedBind([{ kind: 'tcp', host: '127.0.0.1', port: 8080 }], passed)).toBeUndefined();
    expect(describeUnusedBind([{ kind: 'tcp', host: '127.0.0.1', port: 8000 }], passed)).toBe(
      'Socket activation: serving on the 2 sockets systemd passed; --bind http://127.0.0.1:8000 is not bound',
    );
  });
});
