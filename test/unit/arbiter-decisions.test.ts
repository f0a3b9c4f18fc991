/**
 * The arbiter's decisions (staffing, supervision, reload), driven with a clock the test moves and a
 * fake process table: no fork. The real-process side is test/integration/supervision.test.ts and
 * the reload and signals tests.
 */
import { workerDeadlines } from '../../src/arbiter/supervision';
import { ExitCode } from '../../src/shared/exit-codes';
import { fakeArbiter } from '../helpers/arbiter-fakes';

afterEach(() => jest.restoreAllMocks());

/** With Math.random at 0.5 the backoff's ±50% is none: its delays are 200 ms, 400 ms, 800 ms… */
const noJitter = () => jest.spyOn(Math, 'random').mockReturnValue(0.5);

/** No worker is forked 1 ms before `ms` from now, and one is at `ms`. */
function forksAfterExactly(arbiter: ReturnType<typeof fakeArbiter>, ms: number): void {
  arbiter.advance(ms - 1);
  arbiter.turn(1);
  expect(arbiter.workers.size).toBe(0);
  arbiter.advance(1);
  arbiter.turn(1);
  expect(arbiter.workers.size).toBe(1);
}

describe('respawn backoff after failed starts', () => {
  it('holds back the replacement of a worker that died while booting, longer for each failure in a row', () => {
    noJitter();
    const arbiter = fakeArbiter();
    arbiter.turn(1);
    expect(arbiter.workers.size).toBe(1);
    arbiter.exit(arbiter.workers.all()[0]!, 1);
    arbiter.turn(1);
    expect(arbiter.workers.size).toBe(0);
    expect(arbiter.staffing.nextReleaseAt()).toBe(200);
    forksAfterExactly(arbiter, 200);
    // The second failure in a row waits twice as long, and says so.
    arbiter.exit(arbiter.workers.all()[0]!, 1);
    expect(arbiter.staffing.nextReleaseAt()).toBe(200 + 400);
    const warning = /^2 worker starts failed in a row \(the last exited with code 1 while booting\)/;
    expect(arbiter.lines).toContainEqual({ level: 'warn', message: expect.stringMatching(warning) });
    forksAfterExactly(arbiter, 400);
  });

  it('replaces a worker that had served at once', () => {
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    const [first] = arbiter.workers.all();
    for (const record of arbiter.workers.all()) arbiter.ready(record);
    arbiter.advance(1000);
    arbiter.exit(first!, null, 'SIGKILL');
    arbiter.turn(2);
    expect(arbiter.workers.size).toBe(2);
    expect(arbiter.staffing.nextReleaseAt()).toBe(Infinity);
  });

  it('stops the server when the app fails to load and no worker serves, instead of respawning', () => {
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    const outcome = arbiter.exit(arbiter.workers.all()[0]!, ExitCode.APP_LOAD_ERROR);
    expect(outcome).toEqual({ kind: 'unservable', exitCode: ExitCode.APP_LOAD_ERROR, why: 'App failed to load in worker (pid:1001)' });
  });

  it('keeps workers that loaded the app serving when a new one fails to load it, and backs off its replacement', () => {
    noJitter();
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    const [serving, failing] = arbiter.workers.all();
    arbiter.ready(serving!);
    expect(arbiter.exit(failing!, ExitCode.APP_LOAD_ERROR)).toBeUndefined();
    arbiter.turn(2);
    expect(arbiter.workers.all()).toEqual([serving]);
    expect(arbiter.staffing.nextReleaseAt()).toBe(200);
  });
});

describe('reload outcome', () => {
  /** Two ready workers of generation 1, and a reload that has reread the configuration and run onReload. */
  function reloading() {
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    const old = arbiter.workers.all();
    for (const record of old) arbiter.ready(record);
    expect(arbiter.reload.begin()).toBe(true);
    arbiter.reload.start({ target: 2 });
    expect(arbiter.reload.generation).toBe(2);
    expect(arbiter.turn(2)).toBe(false);
    const fresh = arbiter.workers.all().filter((r) => r.generation === 2);
    expect(fresh).toHaveLength(2);
    return { arbiter, old, fresh };
  }

  it('stops the previous workers once every new one is ready, not before', () => {
    const { arbiter, old, fresh } = reloading();
    arbiter.ready(fresh[0]!);
    expect(arbiter.turn(2)).toBe(false);
    expect(old.map((r) => r.state)).toEqual(['ready', 'ready']);
    arbiter.ready(fresh[1]!);
    expect(arbiter.turn(2)).toBe(true);
    arbiter.reload.completed();
    expect(arbiter.staffing.stopPrevious(arbiter.reload.generation)).toBe(2);
    expect(old.map((r) => [r.state, r.stopReason])).toEqual([
      ['stopping', 'reload'],
      ['stopping', 'reload'],
    ]);
    expect(fresh.map((r) => r.state)).toEqual(['ready', 'ready']);
    expect(arbiter.processes.handedOver).toEqual(old.map((r) => r.id));
    expect(arbiter.reload.whenReadyDue(arbiter.workers.readyOf(2).length, 2)).toBe(true);
  });

  it('waits for every new worker already forked, even when the count dropped below them during the reload', () => {
    const { arbiter, fresh } = reloading();
    arbiter.reload.targetSet();
    arbiter.ready(fresh[0]!);
    expect(arbiter.turn(1)).toBe(false);
    arbiter.ready(fresh[1]!);
    expect(arbiter.turn(1)).toBe(true);
  });

  it('keeps the previous workers and reports the reload failed when a new worker cannot boot', () => {
    const { arbiter, old, fresh } = reloading();
    arbiter.ready(fresh[0]!);
    fresh[1]!.bootError = { message: 'Cannot find module ./app.js' };
    const outcome = arbiter.exit(fresh[1]!, ExitCode.APP_LOAD_ERROR);
    const why = `worker (pid:${fresh[1]!.pid}) exited with code 4`;
    expect(outcome).toEqual({ kind: 'reload-failed', why, detail: 'Cannot find module ./app.js' });
    // What Arbiter.failReload does with it.
    arbiter.staffing.stopGeneration(arbiter.reload.generation);
    const { saved, targetSet } = arbiter.reload.failed();
    expect({ saved, targetSet, generation: arbiter.reload.generation }).toEqual({ saved: { target: 2 }, targetSet: false, generation: 1 });
    expect(fresh[0]!.stopReason).toBe('reload-failed');
    expect(old.map((r) => r.state)).toEqual(['ready', 'ready']);
    // The old generation is whole: nothing is forked, and nothing stopped.
    arbiter.turn(2);
    expect(arbiter.workers.counting(1)).toEqual(old);
    expect(arbiter.workers.counting(2)).toEqual([]);
    expect(arbiter.reload.rolledBack(2)).toBe(true);
  });

  it('fails a reload whose first worker preFork refuses at once, and forks nothing more for it', () => {
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    const old = arbiter.workers.all();
    for (const record of old) arbiter.ready(record);
    arbiter.reload.begin();
    arbiter.reload.start({ target: 2 });
    arbiter.hooks.preFork = () => false;
    arbiter.hooks.spawned = 0;
    arbiter.turn(2);
    expect(arbiter.reload.generation).toBe(1);
    expect(arbiter.hooks.spawned).toBe(1);
    expect(arbiter.workers.all()).toEqual(old);
    expect(arbiter.staffing.nextReleaseAt()).toBe(Infinity);
  });

  it('a reload asked for during one follows it, and keeps a worker count set meanwhile', () => {
    const arbiter = fakeArbiter();
    expect(arbiter.reload.begin()).toBe(true);
    expect(arbiter.reload.begin()).toBe(false);
    arbiter.reload.targetSet();
    expect(arbiter.reload.start({ target: 1 })).toEqual({ targetSet: true });
    arbiter.reload.completed();
    expect(arbiter.reload.takeQueued()).toBe(true);
    expect(arbiter.reload.takeQueued()).toBe(false);
    expect(arbiter.reload.begun).toBe(1);
  });
});

describe('recycling order', () => {
  it('replaces workers past --max-worker-lifetime one at a time, oldest first, each once a replacement is ready', () => {
    const arbiter = fakeArbiter({ maxWorkerLifetime: 60_000, timeout: 0 });
    arbiter.turn(3);
    const [a, b, c] = arbiter.workers.all();
    for (const record of [a!, b!, c!]) arbiter.ready(record);
    // The jitter drew different lifetimes; the youngest worker's is the shortest.
    c!.retireAt = 60_000;
    a!.retireAt = 61_000;
    b!.retireAt = 90_000;
    arbiter.advance(61_000);
    arbiter.turn(3);
    expect([a!.state, b!.state, c!.state]).toEqual(['retiring', 'ready', 'retiring']);
    // Both serve until replaced: their replacements boot beside them.
    const replacements = arbiter.workers.counting(1).filter((r) => r.state === 'booting');
    expect(replacements).toHaveLength(2);
    expect(arbiter.processes.handedOver).toEqual([]);
    arbiter.ready(replacements[0]!);
    arbiter.turn(3);
    expect(arbiter.processes.handedOver).toEqual([a!.id]);
    expect(c!.state).toBe('retiring');
    arbiter.ready(replacements[1]!);
    arbiter.turn(3);
    expect(arbiter.processes.handedOver).toEqual([a!.id, c!.id]);
    expect(b!.state).toBe('ready');
  });

  it('stops the oldest of the workers that reached --max-requests first, whatever order they asked in', () => {
    const arbiter = fakeArbiter({ maxRequests: 1000 });
    arbiter.turn(2);
    const [older, younger] = arbiter.workers.all();
    younger!.spawnedAt = 5;
    for (const record of [older!, younger!]) arbiter.ready(record);
    arbiter.supervision.retireServed(younger!);
    arbiter.supervision.retireServed(older!);
    arbiter.turn(2);
    const replacements = arbiter.workers.counting(1);
    expect(replacements).toHaveLength(2);
    arbiter.ready(replacements[0]!);
    arbiter.turn(2);
    expect(arbiter.processes.handedOver).toEqual([older!.id]);
    expect(older!.stopReason).toBe('max-requests');
    expect(younger!.state).toBe('retiring');
  });
});

describe('--max-worker-memory without /proc', () => {
  it("judges the heartbeat's figure as it would /proc's: past the limit the worker hands over at once, a quarter more gets it killed", () => {
    const MB = 1024 * 1024;
    const arbiter = fakeArbiter({ maxWorkerMemory: 100 * MB });
    arbiter.turn(1);
    const [worker] = arbiter.workers.all();
    arbiter.ready(worker!);
    worker!.rss = 90 * MB;
    arbiter.turn(1);
    expect(worker!.state).toBe('ready');
    worker!.rss = 110 * MB;
    arbiter.turn(1);
    expect(worker!.state).toBe('stopping');
    expect(worker!.stopReason).toBe('max-memory');
    expect(arbiter.processes.handedOver).toEqual([worker!.id]);
    expect(arbiter.lines.map((l) => l.message)).toContainEqual(
      expect.stringMatching(/it uses 110MB of memory, over --max-worker-memory 100MB$/),
    );
    expect(arbiter.workers.counting(1).filter((r) => r.state === 'booting')).toHaveLength(1);
    worker!.rss = 136 * MB;
    arbiter.turn(1);
    expect(arbiter.processes.signals).toEqual([[worker!.id, 'SIGKILL']]);
  });
});

describe('timeouts', () => {
  it('times out a worker silent past --timeout, aborts it, and kills it if it lingers', () => {
    const arbiter = fakeArbiter({ timeout: 1000 });
    arbiter.turn(1);
    const [worker] = arbiter.workers.all();
    arbiter.ready(worker!);
    // The loop sleeps until the same deadline it acts on.
    expect(arbiter.supervision.nextDueAt(false)).toBe(1001);
    arbiter.advance(1000);
    arbiter.turn(1);
    expect(worker!.state).toBe('ready');
    arbiter.advance(1);
    arbiter.supervision.abortSilentWorkers();
    expect(arbiter.timedOut).toEqual([{ id: worker!.id, fault: 'timeout', silentMs: 1001 }]);
    expect(worker!.state).toBe('stopping');
    // Its stack read, it is sent SIGABRT; SIGKILL follows once its abort grace has passed.
    expect(arbiter.supervision.abortTimedOut(worker!, 1001, { frames: [], inFlight: ['GET /slow'] }, false)).toBeUndefined();
    expect(arbiter.processes.signals).toEqual([[worker!.id, 'SIGABRT']]);
    const logged = /^WORKER TIMEOUT \(pid:1001\): silent for 1\.0s \(--timeout 1s\)/;
    expect(arbiter.lines).toContainEqual({ level: 'error', message: expect.stringMatching(logged) });
    expect(arbiter.supervision.nextDueAt(false)).toBe(1001 + 400);
    arbiter.advance(399);
    arbiter.supervision.killOverdueStops();
    expect(arbiter.processes.signals).toHaveLength(1);
    arbiter.advance(1);
    arbiter.supervision.killOverdueStops();
    expect(arbiter.processes.signals).toEqual([
      [worker!.id, 'SIGABRT'],
      [worker!.id, 'SIGKILL'],
    ]);
  });

  it('does not count the arbiter’s own absence as a worker’s silence', () => {
    const arbiter = fakeArbiter({ timeout: 1000 });
    arbiter.turn(1);
    const [worker] = arbiter.workers.all();
    arbiter.ready(worker!);
    // Asleep from 0 until 500, the arbiter was stopped and woke at 3000: all of it counts as away.
    arbiter.absences.woke(0, 500, 3000);
    arbiter.advance(3000);
    arbiter.supervision.abortSilentWorkers();
    expect(arbiter.timedOut).toEqual([]);
    const deadlines = workerDeadlines(worker!, 3000, arbiter.settings, arbiter.absences, false);
    expect(deadlines).toContainEqual({ at: 4001, due: 'timeout', since: 0 });
    arbiter.advance(1001);
    arbiter.supervision.abortSilentWorkers();
    expect(arbiter.timedOut).toEqual([{ id: worker!.id, fault: 'timeout', silentMs: 1001 }]);
  });

  it('times out a worker still booting past --worker-boot-timeout, and counts the boot attempt', () => {
    const arbiter = fakeArbiter({ workerBootTimeout: 5000, bootAttempts: 1 });
    arbiter.turn(1);
    const [worker] = arbiter.workers.all();
    arbiter.advance(5000);
    arbiter.supervision.abortSilentWorkers();
    expect(worker!.state).toBe('booting');
    arbiter.advance(1);
    arbiter.supervision.abortSilentWorkers();
    expect(arbiter.timedOut).toEqual([{ id: worker!.id, fault: 'boot-timeout', silentMs: 5001 }]);
    expect(worker!.fault).toBe('boot-timeout');
    // --boot-attempts 1 with no worker ever ready: no more forks, and the server stops with exit code 3.
    expect(arbiter.bootAttempts.exhausted(1)).toBe(true);
    const giveUp = arbiter.supervision.abortTimedOut(worker!, 5001, { frames: [], inFlight: [] }, false);
    expect(giveUp?.exitCode).toBe(ExitCode.WORKER_BOOT_ERROR);
    arbiter.exit(worker!, null, 'SIGKILL');
    arbiter.turn(1);
    arbiter.advance(60_000);
    arbiter.turn(1);
    expect(arbiter.workers.size).toBe(0);
  });

  it('kills a worker whose graceful stop overran --graceful-timeout, and not one that has exited', () => {
    const arbiter = fakeArbiter({ gracefulTimeout: 3000 });
    arbiter.turn(2);
    const [overdue, gone] = arbiter.workers.all();
    for (const record of [overdue!, gone!]) arbiter.ready(record);
    arbiter.supervision.stopWorker(overdue!, 'scale-down');
    arbiter.supervision.stopWorker(gone!, 'scale-down');
    arbiter.processes.exited.add(gone!.id);
    expect(arbiter.supervision.nextDueAt(true)).toBe(3000);
    arbiter.advance(2999);
    arbiter.supervision.killOverdueStops();
    expect(arbiter.processes.signals).toEqual([]);
    arbiter.advance(1);
    arbiter.supervision.killOverdueStops();
    expect(arbiter.processes.signals).toEqual([[overdue!.id, 'SIGKILL']]);
    expect(arbiter.lines).toContainEqual({ level: 'warn', message: `Killing worker (pid:${overdue!.pid})` });
  });

  it('gives a worker stopped while booting a short grace: it cannot act on the message', () => {
    const arbiter = fakeArbiter({ gracefulTimeout: 30_000 });
    arbiter.turn(1);
    const [worker] = arbiter.workers.all();
    arbiter.supervision.stopWorker(worker!, 'scale-down');
    expect(worker!.killAt).toBe(1000);
  });
});

describe('a smaller count', () => {
  it('stops the idlest worker, not the oldest: fewest requests in flight, then fewest connections', () => {
    const arbiter = fakeArbiter();
    arbiter.turn(3);
    const [oldest, middle, newest] = arbiter.workers.all();
    for (const record of arbiter.workers.all()) arbiter.ready(record);
    Object.assign(oldest!, { inFlight: 1, connections: 1 });
    Object.assign(middle!, { inFlight: 0, connections: 2 });
    Object.assign(newest!, { inFlight: 0, connections: 1 });
    arbiter.turn(2);
    expect(arbiter.workers.all().map((r) => r.state)).toEqual(['ready', 'ready', 'stopping']);
    arbiter.turn(1);
    expect(arbiter.workers.all().map((r) => r.state)).toEqual(['ready', 'stopping', 'stopping']);
  });

  it('stops a worker still booting before one that serves', () => {
    const arbiter = fakeArbiter();
    arbiter.turn(2);
    arbiter.ready(arbiter.workers.all()[0]!);
    arbiter.turn(1);
    expect(arbiter.workers.all().map((r) => r.state)).toEqual(['ready', 'stopping']);
  });
});
