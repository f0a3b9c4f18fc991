import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSocket, type UnixDgramSocket } from 'unix-dgram';
import { type Notifier, openNotifier } from '../../hooks/internal/sd-notify';

// Real unix datagram sockets: the test plays systemd, bound on a path in a fresh directory.
let dir: string;
let open: UnixDgramSocket[];
let notifiers: Notifier[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'unicorn-sd-notify-'));
  open = [];
  notifiers = [];
});

afterEach(() => {
  for (const socket of open) socket.close();
  for (const notifier of notifiers) notifier.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A bound receiver, and the datagrams it gets, in order. */
function listen(socket: string): { next(): Promise<Buffer>; socket: UnixDgramSocket } {
  const received: Buffer[] = [];
  const waiting: ((datagram: Buffer) => void)[] = [];
  const receiver = createSocket('unix_dgram', (datagram) => {
    const waiter = waiting.shift();
    if (waiter) waiter(datagram);
    else received.push(datagram);
  });
  open.push(receiver);
  let failure: Error | undefined;
  receiver.on('error', (err) => (failure = err));
  receiver.bind(socket); // emits 'listening' or 'error' before it returns
  if (failure) throw failure;
  return {
    socket: receiver,
    next: () => {
      const datagram = received.shift();
      return datagram !== undefined ? Promise.resolve(datagram) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

function notifierFor(socket: string): Notifier {
  const notifier = openNotifier({ NOTIFY_SOCKET: socket });
  if (!notifier) throw new Error(`no notifier for ${socket}`);
  notifiers.push(notifier);
  return notifier;
}

describe('openNotifier', () => {
  it('sends READY=1, then several assignments as newline-separated lines in one datagram', async () => {
    const socket = path.join(dir, 'notify');
    const systemd = listen(socket);
    const notifier = notifierFor(socket);
    expect(notifier.socket).toBe(socket);

    await notifier.notify({ READY: 1 });
    expect(await systemd.next()).toEqual(Buffer.from('READY=1'));

    await notifier.notify({ RELOADING: 1, MONOTONIC_USEC: 1234567, STATUS: 'reloading: 4 workers, 2 booted' });
    expect(await systemd.next()).toEqual(Buffer.from('RELOADING=1\nMONOTONIC_USEC=1234567\nSTATUS=reloading: 4 workers, 2 booted'));

    await notifier.notify('STOPPING=1\nSTATUS=stopping');
    expect(await systemd.next()).toEqual(Buffer.from('STOPPING=1\nSTATUS=stopping'));
  });

  it('sends STATUS text as UTF-8', async () => {
    const socket = path.join(dir, 'notify');
    const systemd = listen(socket);
    await notifierFor(socket).notify({ STATUS: 'serving — 4 workers' });
    const emDash = Buffer.from([0xe2, 0x80, 0x94]);
    expect(await systemd.next()).toEqual(Buffer.concat([Buffer.from('STATUS=serving '), emDash, Buffer.from(' 4 workers')]));
  });

  it('gives no notifier when NOTIFY_SOCKET is unset or empty', () => {
    expect(openNotifier({})).toBeUndefined();
    expect(openNotifier({ NOTIFY_SOCKET: '' })).toBeUndefined();
  });

  it('rejects, naming the socket, when nothing is bound at the path', async () => {
    const socket = path.join(dir, 'nobody');
    await expect(notifierFor(socket).notify({ READY: 1 })).rejects.toMatchObject({
      code: 'UNICORN_NOTIFY_FAILED',
      message: `cannot notify systemd at NOTIFY_SOCKET "${socket}": ENOENT (no such file or directory): is systemd still listening there?`,
    });
  });

  it('rejects, naming the socket, when systemd went away and left its socket file', async () => {
    const socket = path.join(dir, 'notify');
    const systemd = listen(socket);
    open.splice(open.indexOf(systemd.socket), 1);
    systemd.socket.close();
    await expect(notifierFor(socket).notify({ WATCHDOG: 1 })).rejects.toMatchObject({
      code: 'UNICORN_NOTIFY_FAILED',
      message: `cannot notify systemd at NOTIFY_SOCKET "${socket}": ECONNREFUSED (connection refused): is systemd still listening there?`,
    });
  });

  it('refuses a state that is empty or would smuggle in another assignment', async () => {
    const notifier = notifierFor(path.join(dir, 'notify'));
    await expect(notifier.notify({ STATUS: 'ok\nMAINPID=1' })).rejects.toThrow(
      'the sd_notify field STATUS "ok\\nMAINPID=1" is not accepted: expected a value on one line',
    );
    await expect(notifier.notify({ 'READY=1\nMAINPID': 1 })).rejects.toMatchObject({ code: 'UNICORN_BAD_VALUE' });
    await expect(notifier.notify({ EXTEND_TIMEOUT_USEC: 1.5 })).rejects.toThrow('expected an integer');
    await expect(notifier.notify({})).rejects.toMatchObject({ code: 'UNICORN_BAD_VALUE' });
    await expect(notifier.notify('')).rejects.toMatchObject({ code: 'UNICORN_BAD_VALUE' });
  });

  it('rejects after close()', async () => {
    const socket = path.join(dir, 'notify');
    listen(socket);
    const notifier = notifierFor(socket);
    notifier.close();
    await expect(notifier.notify({ READY: 1 })).rejects.toThrow(
      `cannot notify systemd at NOTIFY_SOCKET "${socket}": the notifier is closed`,
    );
  });

  // unix-dgram copies the address as a C string and passes sizeof(sockaddr_un) as its length, so an
  // abstract name can be neither given nor reached: "\0name" goes to an all-NUL name, "@name" to a file.
  it('refuses an abstract-namespace socket, naming it', () => {
    expect(() => openNotifier({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' })).toThrow(
      expect.objectContaining({
        code: 'UNICORN_NOTIFY_SOCKET_UNSUPPORTED',
        message: expect.stringMatching(
          /^cannot notify systemd at NOTIFY_SOCKET "@\/org\/freedesktop\/systemd1\/notify": it names an abstract-namespace socket/,
        ),
      }),
    );
  });

  it.each([
    ['a relative path', 'run/notify', 'expected an absolute socket path'],
    ['an AF_VSOCK address', 'vsock:2:1234', 'expected an absolute socket path'],
    ['a path longer than sun_path holds', `/${'x'.repeat(107)}`, 'it is 108 bytes long, and a unix socket path holds at most 107'],
  ])('refuses %s', (_, socket, reason) => {
    expect(() => openNotifier({ NOTIFY_SOCKET: socket })).toThrow(
      `cannot notify systemd at NOTIFY_SOCKET ${JSON.stringify(socket)}: ${reason}`,
    );
  });
});

describe('openNotifier without a working unix-dgram', () => {
  /** openNotifier from a fresh module registry in which requiring unix-dgram throws `err`. */
  function openWithout(err: Error & { code?: string }): () => unknown {
    let open!: typeof openNotifier;
    jest.isolateModules(() => {
      jest.doMock('unix-dgram', () => {
        throw err;
      });
      ({ openNotifier: open } = require('../../hooks/internal/sd-notify') as typeof import('../../hooks/internal/sd-notify'));
    });
    return () => open({ NOTIFY_SOCKET: '/run/systemd/notify' });
  }

  afterEach(() => jest.dontMock('unix-dgram'));

  it('names the package and how to install it when it is not installed', () => {
    const missing = Object.assign(new Error("Cannot find module 'unix-dgram' from 'hooks/internal/sd-notify.ts'"), {
      code: 'MODULE_NOT_FOUND',
    });
    expect(openWithout(missing)).toThrow(
      expect.objectContaining({
        code: 'UNICORN_NOTIFY_UNAVAILABLE',
        message: expect.stringMatching(/needs the package unix-dgram, which is not installed\..*`npm install unix-dgram`/),
      }),
    );
  });

  it('says to rebuild it when its addon was built for another Node.js', () => {
    const mismatch = new Error(
      "The module '/x/unix_dgram.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115.",
    );
    expect(openWithout(mismatch)).toThrow(
      expect.objectContaining({
        code: 'UNICORN_NOTIFY_UNAVAILABLE',
        message: expect.stringMatching(
          /which is installed but does not load in Node\.js v\d+.*\(The module '\/x\/unix_dgram\.node' was compiled .* NODE_MODULE_VERSION 115\.\).*`npm rebuild unix-dgram`/,
        ),
      }),
    );
  });
});
