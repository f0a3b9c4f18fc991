import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSocket, type UnixDgramSocket } from 'unix-dgram';
import { inFlight, request } from '../helpers/http';
import { APPS, runToExit, serve, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/** The test plays systemd: a real unix datagram socket, passed to unicorn as NOTIFY_SOCKET. */
class FakeSystemd {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'unicorn-systemd-'));
  readonly socket = path.join(this.dir, 'notify');
  /** Each datagram as its assignments, in order. */
  readonly messages: Array<Record<string, string>> = [];
  private readonly receiver: UnixDgramSocket;
  private readonly waiters = new Set<() => void>();

  constructor() {
    this.receiver = createSocket('unix_dgram', (datagram) => {
      this.messages.push(
        Object.fromEntries(
          datagram
            .toString()
            .split('\n')
            .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
        ),
      );
      for (const wake of this.waiters) wake();
    });
    this.receiver.bind(this.socket);
  }

  /** Wait for a message with every given assignment; resolves with its index. */
  waitFor(fields: Record<string, string>, after = -1, timeoutMs = 15_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.findIndex((m, i) => i > after && Object.entries(fields).every(([k, v]) => m[k] === v));
        if (found < 0) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${JSON.stringify(fields)} after #${after} in ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.receiver.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let systemd: FakeSystemd;
beforeEach(() => (systemd = new FakeSystemd()));
afterEach(() => systemd.close());

describe('the systemd plugin', () => {
  it('notifies readiness, reloads, status, the watchdog and the stop', async () => {
    const unicorn: Unicorn = start(['--hook', 'systemd', '-w', '2', '-b', '127.0.0.1:0', ROUTES], {
      env: { NOTIFY_SOCKET: systemd.socket, WATCHDOG_USEC: '200000' },
    });
    await systemd.waitFor({ MAINPID: String(unicorn.pid), STATUS: 'starting' });
    const ready = await systemd.waitFor({ READY: '1' });
    expect(systemd.messages[ready]!.STATUS).toBe('serving: 2 of 2 workers ready');
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    // Pings every 100 ms (half of WATCHDOG_USEC): several arrive while it serves.
    const firstPing = await systemd.waitFor({ WATCHDOG: '1' });
    await systemd.waitFor({ WATCHDOG: '1' }, firstPing);

    unicorn.signal('SIGHUP');
    const reloading = await systemd.waitFor({ RELOADING: '1' }, ready);
    expect(systemd.messages[reloading]!.MONOTONIC_USEC).toMatch(/^\d+$/);
    expect(systemd.messages[reloading]!.STATUS).toMatch(/^reloading: /);
    const readyAgain = await systemd.waitFor({ READY: '1' }, reloading);
    expect(systemd.messages[readyAgain]!.STATUS).toBe('serving: 2 of 2 workers ready');

    unicorn.signal('SIGTTIN');
    await systemd.waitFor({ STATUS: 'serving: 2 of 3 workers ready' }, readyAgain);

    unicorn.signal('SIGTERM');
    const stopping = await systemd.waitFor({ STOPPING: '1' }, readyAgain);
    expect(systemd.messages[stopping]!.STATUS).toMatch(/^stopping: /);
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(systemd.messages[systemd.messages.length - 1]).toEqual({ STATUS: 'stopped' });
    // The first STOPPING=1 is the only one.
    expect(systemd.messages.filter((m) => m.STOPPING)).toHaveLength(1);
  });

  it('sends STOPPING=1 when a stop by `unicorn ctl shutdown` begins, not when the arbiter exits', async () => {
    const control = path.join(systemd.dir, 'ctl.sock');
    const unicorn = await serve(ROUTES, ['--hook', 'systemd', '--control-socket', control], { env: { NOTIFY_SOCKET: systemd.socket } });
    const ready = await systemd.waitFor({ READY: '1' });
    const held = inFlight(`${unicorn.url()}/hold?ms=20000`);
    await held.handling;
    const shutdown = runToExit(['ctl', '--socket', control, 'shutdown']);
    const stopping = await systemd.waitFor({ STOPPING: '1' }, ready);
    // The stop has begun and waits for the held request: the arbiter has not exited.
    expect(systemd.messages[stopping]!.STATUS).toMatch(/^stopping: /);
    expect(unicorn.proc.exitCode).toBeNull();
    unicorn.signal('SIGQUIT');
    expect((await shutdown).code).toBe(0);
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(systemd.messages.filter((m) => m.STOPPING)).toHaveLength(1);
    expect(systemd.messages[systemd.messages.length - 1]).toEqual({ STATUS: 'stopped' });
  });

  it('keeps the unit active while --idle-timeout has stopped the workers: STATUS says idle, the watchdog pings on, READY=1 once awake', async () => {
    const unicorn: Unicorn = start(['--hook', 'systemd', '-w', '1', '--idle-timeout', '300ms', '-b', '127.0.0.1:0', ROUTES], {
      env: { NOTIFY_SOCKET: systemd.socket, WATCHDOG_USEC: '200000' },
    });
    const ready = await systemd.waitFor({ READY: '1' });
    const idle = await systemd.waitFor({ STATUS: 'idle: no worker runs; the next connection starts them' }, ready);
    await unicorn.waitForLog((l) => l.msg.startsWith('Worker (pid:') && l.msg.endsWith('exited with code 0'), 'the idle stop');
    const ping = await systemd.waitFor({ WATCHDOG: '1' }, idle);
    await systemd.waitFor({ WATCHDOG: '1' }, ping);
    expect(systemd.messages.filter((m) => 'STOPPING' in m)).toEqual([]);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    const waking = await systemd.waitFor({ STATUS: 'waking: 0 of 1 workers ready' }, idle);
    // Once the woken worker is ready, the unit says so again: it does not stay `waking`.
    await systemd.waitFor({ READY: '1', STATUS: 'serving: 1 of 1 workers ready' }, waking);
  });

  it('leaves the watchdog alone when WATCHDOG_PID names another process', async () => {
    const unicorn = await serve(ROUTES, ['--hook', 'systemd'], {
      env: { NOTIFY_SOCKET: systemd.socket, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' },
    });
    const ready = await systemd.waitFor({ READY: '1' });
    // Proving an absence: 300 ms is six watchdog intervals.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(systemd.messages.filter((m) => m.WATCHDOG)).toEqual([]);
    expect(ready).toBeGreaterThanOrEqual(1);
    expect(unicorn.lines('systemd: pinging the watchdog')).toEqual([]);
  });

  it('does nothing, and says so, without NOTIFY_SOCKET', async () => {
    const unicorn = await serve(ROUTES, ['--hook', 'systemd'], { env: { NOTIFY_SOCKET: undefined } });
    expect(unicorn.lines('systemd: NOTIFY_SOCKET is not set')).toHaveLength(1);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
  });

  it('refuses to start when systemd cannot be reached, naming the socket', async () => {
    const unicorn = start(['--hook', 'systemd', '-b', '127.0.0.1:0', ROUTES], { env: { NOTIFY_SOCKET: '@abstract' } });
    expect((await unicorn.exited).code).toBe(1);
    expect(unicorn.stderr).toMatch(/unicorn: error: hook onStarting of plugin "systemd" failed: .*"@abstract".*abstract-namespace socket/);
  });
});
