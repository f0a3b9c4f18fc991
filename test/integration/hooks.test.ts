import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { ROOT, runToExit, start } from '../helpers/unicorn';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'config');

/** A fresh file for the hooks to append to, and its lines. */
function hookLog(): { file: string; lines: () => string[] } {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-hooks-')), 'hooks.log');
  return { file, lines: () => readFileSync(file, 'utf8').trim().split('\n') };
}

/** Wait until the hook log has a line matching (hooks write a file, which has no event to wait
 *  on: it is read every 20 ms). Fails with the log so far after `timeoutMs`, for hangs only. */
async function logged(log: ReturnType<typeof hookLog>, match: string | ((line: string) => boolean), timeoutMs = 15_000): Promise<void> {
  const test = typeof match === 'string' ? (line: string) => line === match : match;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = existsSync(log.file) ? log.lines() : [];
    if (lines.some(test)) return;
    if (Date.now() > deadline) throw new Error(`no hook log line ${String(match)} in:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('lifecycle hooks through a whole life', () => {
  it('run in order: start, requests, HUP, TTIN, TTOU, TERM', async () => {
    const log = hookLog();
    const unicorn = start(['-c', path.join(FIXTURES, 'record-hooks.mjs'), '-w', '2', '-b', '127.0.0.1:0'], { env: { HOOK_LOG: log.file } });
    await logged(log, 'whenReady 2/2');
    const before = log.lines();
    expect(before).toEqual([
      'onStarting arbiter true',
      'preFork w1 pid=0',
      'preFork w2 pid=0',
      // The workers boot side by side: their lines interleave in any order.
      ...sameWorkerOrder(before.slice(3, 7), [
        'postFork w1 arbiter=true',
        'postWorkerInit w1',
        'postFork w2 arbiter=true',
        'postWorkerInit w2',
      ]),
      'whenReady 2/2',
    ]);

    const reply = await request(`${unicorn.url()}/`);
    expect(reply.status).toBe(200);
    await logged(log, (l) => l.startsWith('postRequest'));
    const served = log.lines().slice(before.length);
    expect(served).toEqual([expect.stringMatching(/^preRequest w[12] \/$/), expect.stringMatching(/^postRequest w[12] \/ 200 number$/)]);

    let mark = log.lines().length;
    unicorn.signal('SIGHUP');
    await logged(log, 'childExit w1 reload');
    await logged(log, 'childExit w2 reload');
    const reload = log.lines().slice(mark);
    expect(reload[0]).toBe('onReload reloading=true');
    expect(reload.slice(1, 3)).toEqual(['preFork w3 pid=0', 'preFork w4 pid=0']);
    // The old workers go only once every new one is ready (whenReady, in the arbiter, and their
    // exits, in the workers, race).
    const newReady = Math.max(reload.indexOf('postWorkerInit w3'), reload.indexOf('postWorkerInit w4'));
    expect(reload.indexOf('whenReady 2/2')).toBeGreaterThan(newReady);
    for (const id of [1, 2]) {
      expect(reload.indexOf(`workerExit w${id}`)).toBeGreaterThan(newReady);
      expect(reload.indexOf(`childExit w${id} reload`)).toBeGreaterThan(reload.indexOf(`workerExit w${id}`));
    }

    mark = log.lines().length;
    unicorn.signal('SIGTTIN');
    await logged(log, 'postWorkerInit w5');
    expect(log.lines().slice(mark)).toEqual(['nworkersChanged 3 2', 'preFork w5 pid=0', 'postFork w5 arbiter=true', 'postWorkerInit w5']);

    // Ready, so that TTOU stops the idlest of three serving workers, the oldest at a tie (a booting one would go first).
    await unicorn.waitForLog((l) => l.workerId === 5 && l.msg.endsWith(' ready'), 'worker 5 ready');
    mark = log.lines().length;
    unicorn.signal('SIGTTOU');
    await logged(log, 'childExit w3 scale-down');
    expect(log.lines().slice(mark)).toEqual(['nworkersChanged 2 3', 'workerExit w3', 'childExit w3 scale-down']);

    mark = log.lines().length;
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    const stop = log.lines().slice(mark);
    expect(stop[0]).toBe('onStopping graceful=true stopping=true');
    expect(stop[stop.length - 1]).toBe('onExit 0');
    expect(stop.slice(1, -1).sort()).toEqual(['childExit w4 shutdown', 'childExit w5 shutdown', 'workerExit w4', 'workerExit w5']);
    for (const id of [4, 5]) expect(stop.indexOf(`childExit w${id} shutdown`)).toBeGreaterThan(stop.indexOf(`workerExit w${id}`));
  });
});

/** `lines`, checked to hold `expected` with each worker's own lines in order. */
function sameWorkerOrder(lines: string[], expected: string[]): string[] {
  expect([...lines].sort()).toEqual([...expected].sort());
  for (const worker of ['w1', 'w2']) {
    expect(lines.filter((l) => l.includes(` ${worker} `) || l.endsWith(` ${worker}`))).toEqual(
      expected.filter((l) => l.includes(` ${worker} `) || l.endsWith(` ${worker}`)),
    );
  }
  return lines;
}

describe('plugin composition', () => {
  it("runs the file's plugins in order, then --hook plugins, then the file's own hooks, awaiting each", async () => {
    const log = hookLog();
    const unicorn = start(
      ['-c', path.join(FIXTURES, 'compose.mjs'), '--hook', path.join(FIXTURES, 'compose-plugin.mjs'), '-b', '127.0.0.1:0'],
      {
        env: { HOOK_LOG: log.file },
      },
    );
    await unicorn.ready(1);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    expect(log.lines()).toEqual([
      'onStarting first',
      'onStarting inline',
      'onStarting hook-flag',
      'onStarting config',
      // Async hooks are awaited one after another: the order holds though each first waits.
      'postWorkerInit first',
      'postWorkerInit hook-flag',
      'postWorkerInit config',
      'preRequest first',
      'preRequest inline',
      'preRequest hook-flag',
      'preRequest config',
    ]);
  });
});

describe('failing hooks', () => {
  const config = path.join(FIXTURES, 'failing-hooks.mjs');

  it('onStarting throwing stops the start, naming the hook and where it came from; nothing is bound', async () => {
    const { code, stderr, unicorn } = await runToExit(['-c', config, '-b', '127.0.0.1:0'], { env: { FAIL: 'onStarting' } });
    expect(code).toBe(1);
    expect(stderr).toContain('unicorn: error: hook onStarting of test/fixtures/config/failing-hooks.mjs failed: Error: no database\n');
    expect(unicorn.lines('Listening at')).toEqual([]);
  });

  it('a hook past --hook-timeout is cut off with an error naming it', async () => {
    const { code, stderr } = await runToExit(['-c', config, '--hook-timeout', '300ms', '-b', '127.0.0.1:0'], {
      env: { FAIL: 'onStarting-hang' },
    });
    expect(code).toBe(1);
    expect(stderr).toContain(
      'unicorn: error: hook onStarting of test/fixtures/config/failing-hooks.mjs did not finish within --hook-timeout 300ms\n',
    );
  });

  it("a hook that takes its time holds up neither the arbiter's signals nor its stop", async () => {
    const unicorn = start(['-c', config, '--hook-timeout', '60s', '--graceful-timeout', '3s', '-b', '127.0.0.1:0'], {
      env: { FAIL: 'preFork-hang' },
    });
    await unicorn.ready(1);
    unicorn.signal('SIGTTIN');
    await unicorn.waitForLog((l) => l.msg === 'Number of workers: 2 (was 1)', 'TTIN');
    // The second worker's preFork hangs; the arbiter goes on meanwhile.
    unicorn.signal('SIGTTOU');
    await unicorn.waitForLog((l) => l.msg === 'Number of workers: 1 (was 2)', 'TTOU');
    expect((await request(unicorn.url())).status).toBe(200);
    const stopping = Date.now();
    unicorn.signal('SIGTERM');
    // The worker's childExit hangs too: onExit waits for it until the stop's deadline only.
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(unicorn.lines('onExit ran')).toHaveLength(1);
    expect(unicorn.lines('Booting worker')).toHaveLength(1);
  });

  it('onExit waits for the hooks before it under a --graceful-timeout too long for one timer', async () => {
    // 30 days is past setTimeout's limit (2^31 - 1 ms, about 24.8 days).
    const unicorn = start(['-c', config, '--hook-timeout', '1s', '--graceful-timeout', '30d', '-b', '127.0.0.1:0'], {
      env: { FAIL: 'preFork-hang' },
    });
    await unicorn.ready(1);
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    const order = unicorn.logs.filter((l) => l.msg === 'onExit ran' || l.msg.startsWith('hook childExit')).map((l) => l.msg);
    expect(order).toEqual([
      'hook childExit of test/fixtures/config/failing-hooks.mjs did not finish within --hook-timeout 1s',
      'onExit ran',
    ]);
    // (The worker's own graceful timer still overflows: not the arbiter's.)
    expect(unicorn.stderr).not.toContain(`(node:${unicorn.pid}) TimeoutOverflowWarning`);
  });

  it("preFork refusing a reload's worker fails the reload; the running workers serve on", async () => {
    const unicorn = start(['-c', config, '-b', '127.0.0.1:0'], { env: { FAIL: 'preFork-reload' } });
    await unicorn.ready(1);
    const [pid] = unicorn.workerPids();
    unicorn.signal('SIGHUP');
    const failed = await unicorn.waitForLog((l) => l.msg.startsWith('Reload failed'), 'the failed reload');
    expect(failed.msg).toBe(
      'Reload failed: preFork refused worker 2: hook preFork of test/fixtures/config/failing-hooks.mjs failed: Error: no room for new workers; the previous workers keep serving',
    );
    expect((await request(unicorn.url())).status).toBe(200);
    expect(unicorn.workerPids()).toEqual([pid]);
  });

  it('postWorkerInit throwing is a boot failure (exit 3)', async () => {
    const { code, unicorn } = await runToExit(['-c', config, '-b', '127.0.0.1:0'], { env: { FAIL: 'postWorkerInit' } });
    expect(code).toBe(3);
    expect(unicorn.bootFailures().map((l) => l.msg)).toEqual([
      'hook postWorkerInit of test/fixtures/config/failing-hooks.mjs failed: Error: cannot warm the cache',
    ]);
  });

  it('preRequest throwing or rejecting answers 500 and the worker serves on; postRequest throwing is logged', async () => {
    const unicorn = start(['-c', config, '-k', 'async', '-b', '127.0.0.1:0']);
    await unicorn.ready(1);
    const [pid] = unicorn.workerPids();
    for (const url of ['/reject-me', '/reject-me-later']) {
      const reply = await request(`${unicorn.url()}${url}`);
      expect(reply.status).toBe(500);
    }
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    await unicorn.waitForLog(
      (l) => l.msg.startsWith('hook postRequest of test/fixtures/config/failing-hooks.mjs failed'),
      'the postRequest failure',
    );
    expect(unicorn.lines('Error handling request GET /reject-me').map((l) => (l.err as { message: string }).message)).toEqual([
      expect.stringMatching(/^hook preRequest of test\/fixtures\/config\/failing-hooks\.mjs failed: Error: refused \/reject-me\b/),
      expect.stringMatching(
        /^hook preRequest of test\/fixtures\/config\/failing-hooks\.mjs failed: Error: refused \/reject-me-later later\b/,
      ),
    ]);
    expect(unicorn.workerPids()).toEqual([pid]);
  });
});
