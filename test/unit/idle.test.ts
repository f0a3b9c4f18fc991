/**
 * Scale to zero's decisions (--idle-timeout) with a clock the test moves and fake workers: when the
 * server is idle, the confirmation before the stop, and the wake-up. No fork, no socket: the copies
 * lent are fake handles. The real-process side is test/integration/idle.test.ts.
 */
import { IdleClock } from '../../src/arbiter/elastic/idle';
import type { ListenHandle } from '../../src/arbiter/elastic/lent-listeners';
import { ScaleToZero } from '../../src/arbiter/elastic/scale-to-zero';
import { heartbeatInterval } from '../../src/arbiter/worker-process';
import { WorkerTable } from '../../src/arbiter/worker-table';
import type { ToWorker } from '../../src/ipc';
import type { Logger } from '../../src/shared/log';
import { workerRecord } from '../helpers/arbiter-fakes';

const counts = (id: number, fields: { requests?: number; inFlight?: number; connections?: number; countsAt: number }) => ({
  id,
  requests: 0,
  inFlight: 0,
  connections: 0,
  ...fields,
});

describe('IdleClock', () => {
  it('starts over with each request served, in flight or connection open, judged once as the counts come', () => {
    const clock = new IdleClock(0);
    expect(clock.idleAt(1000)).toBe(1000);
    expect(clock.observe([counts(1, { countsAt: 100 })], 100)).toBe(false);
    expect(clock.observe([counts(1, { requests: 3, countsAt: 200 })], 200)).toBe(true);
    expect(clock.idleAt(1000)).toBe(1200);
    // The same counts again are no new activity, even with a request in flight in them.
    expect(clock.observe([counts(1, { requests: 3, inFlight: 1, countsAt: 300 })], 300)).toBe(true);
    expect(clock.observe([counts(1, { requests: 3, inFlight: 1, countsAt: 300 })], 900)).toBe(false);
    expect(clock.idleAt(1000)).toBe(1300);
    expect(clock.observe([counts(1, { requests: 3, connections: 1, countsAt: 1000 })], 1000)).toBe(true);
    expect(clock.observe([counts(1, { requests: 3, countsAt: 1500 })], 1500)).toBe(false);
    // A worker first seen with requests served (a new one that took a connection at once) is active.
    expect(clock.observe([counts(2, { requests: 1, countsAt: 1600 })], 1600)).toBe(true);
  });

  it('reads counts that came in the same millisecond as the ones it last looked at', () => {
    // The arbiter's clock is in whole milliseconds: a report and a beat as a request starts can share one.
    const clock = new IdleClock(0);
    expect(clock.observe([counts(1, { requests: 3, countsAt: 100 })], 100)).toBe(true);
    expect(clock.observe([counts(1, { requests: 3, inFlight: 1, countsAt: 100 })], 100)).toBe(true);
    expect(clock.observe([counts(1, { requests: 4, countsAt: 100 })], 100)).toBe(true);
    expect(clock.observe([counts(1, { requests: 4, countsAt: 100 })], 100)).toBe(false);
  });
});

function fakeScaleToZero(idleTimeout = 1000, emperorAccepts = false) {
  let time = 0;
  let target = 2;
  let succeeded = false;
  const workers = new WorkerTable();
  const sent: Array<[number, ToWorker['type']]> = [];
  const hooks: string[] = [];
  const held: unknown[] = [];
  const lines: string[] = [];
  const log = { info: (_: unknown, message: string) => lines.push(message), warn() {}, error() {}, debug() {} } as unknown as Logger;
  for (const id of [1, 2]) {
    workers.add(workerRecord(id, { state: 'ready', handle: { isConnected: () => true } as never, countsAt: 0 }));
  }
  const scale = new ScaleToZero({
    now: () => time,
    log,
    settings: () => ({ idleTimeout, backlog: 511, workers: 2 }),
    workers,
    target: () => target,
    setTarget: (count) => (target = count),
    stopping: () => false,
    succeeded: () => succeeded,
    reload: { underWay: false, readyAgain() {} },
    listenerCount: () => 1,
    channels: {
      relay: {
        arrived: (connection) => held.push(connection),
        get holding() {
          return held.length;
        },
      },
      send: (record, message) => sent.push([record.id, message.type]),
    },
    enqueue: () => {},
    emperorAccepts: () => emperorAccepts,
    announce: (hook) => hooks.push(hook),
  });
  const copy = (): ListenHandle & { listened: number; closed: boolean } => ({
    listened: 0,
    closed: false,
    onconnection: null,
    listen(backlog) {
      this.listened = backlog;
      return 0;
    },
    close() {
      this.closed = true;
    },
  });
  /** Every worker answers `report` with `fields` at the current time. */
  const report = (fields: { requests?: number; inFlight?: number; connections?: number } = {}) => {
    for (const record of workers.values()) Object.assign(record, { requests: 0, inFlight: 0, connections: 0, ...fields, countsAt: time });
  };
  return {
    scale,
    workers,
    sent,
    hooks,
    held,
    lines,
    copy,
    report,
    target: () => target,
    setTarget: (count: number) => (target = count),
    setSucceeded: (runs: boolean) => (succeeded = runs),
    advance: (ms: number) => (time += ms),
  };
}

describe('heartbeats with --idle-timeout', () => {
  it('come every tenth of the timeout (250 ms at most often, 5 s at least), so an idle stop comes soon after it', () => {
    const beat = (idleTimeout: number, timeout = 30_000) =>
      heartbeatInterval({ timeout, workerBounds: { min: 1, max: 1, by: 'count' }, idleTimeout });
    expect(beat(0)).toBe(5000);
    expect(beat(10_000)).toBe(1000);
    expect(beat(1000)).toBe(250);
    expect(beat(300_000)).toBe(5000);
    expect(beat(10_000, 1000)).toBe(500);
  });
});

describe('ScaleToZero', () => {
  it('after the timeout, confirms with fresh counts and a lent copy, then stops every worker and accepts on the copy', () => {
    const f = fakeScaleToZero();
    f.scale.manage();
    expect(f.scale.nextDueAt()).toBe(1000);
    f.advance(999);
    f.scale.manage();
    expect(f.sent).toEqual([]);
    f.advance(1);
    f.scale.manage();
    expect(f.sent).toEqual([
      [1, 'unicorn:report'],
      [2, 'unicorn:report'],
      [1, 'unicorn:lend-listeners'],
    ]);
    const copy = f.copy();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: copy });
    f.scale.manage();
    // Still waiting for the counts.
    expect(f.target()).toBe(2);
    f.advance(5);
    f.report();
    f.scale.manage();
    expect(f.target()).toBe(0);
    expect(copy.listened).toBe(511);
    expect(f.scale.status()).toEqual({ state: 'idle', wakeUps: 0, idleStops: 1 });
    expect(f.hooks).toEqual(['onIdle']);
    expect(f.lines).toContain('Idle for 1s: stopping 2 workers; the next connection starts them again');

    // A connection accepted on the copy waits in the relay and wakes the server; the first worker
    // ready closes the copy.
    for (const record of f.workers.all()) f.workers.delete(record.id);
    f.scale.take({ kind: 'arrived', connection: { close() {} } });
    f.scale.manage();
    expect(f.held).toHaveLength(1);
    // One worker first, so that it boots alone on the CPUs; the rest once it serves.
    expect(f.target()).toBe(1);
    expect(f.scale.status()).toEqual({ state: 'waking', wakeUps: 1, idleStops: 1 });
    expect(f.lines).toContain('Waking: a connection arrived with no worker serving; starting 1 worker, then 1 more once it serves');
    f.workers.add(workerRecord(3, { state: 'ready', handle: { isConnected: () => true } as never }));
    f.advance(200);
    f.scale.manage();
    expect(copy.closed).toBe(true);
    expect(f.target()).toBe(2);
    expect(f.scale.status().state).toBe('serving');
    expect(f.hooks).toEqual(['onIdle', 'onWake']);
  });

  it('in an on-demand vassal, borrows no copy (the emperor accepts), stops the workers with the fresh counts, and stays idle', () => {
    const f = fakeScaleToZero(1000, true);
    f.scale.manage();
    f.advance(1000);
    f.scale.manage();
    expect(f.sent).toEqual([
      [1, 'unicorn:report'],
      [2, 'unicorn:report'],
    ]);
    f.advance(5);
    f.report();
    f.scale.manage();
    expect(f.target()).toBe(0);
    expect(f.scale.status().state).toBe('idle');
    // No copy accepts here, which is no reason to wake: the vassal leaves, and the emperor accepts.
    for (const record of f.workers.all()) f.workers.delete(record.id);
    f.advance(1000);
    f.scale.manage();
    expect(f.target()).toBe(0);
    expect(f.scale.status().state).toBe('idle');
  });

  it('stays serving when the fresh counts show a request in flight, and closes the copy it borrowed', () => {
    const f = fakeScaleToZero();
    f.advance(1000);
    f.scale.manage();
    const copy = f.copy();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: copy });
    f.report({ inFlight: 1 });
    f.scale.manage();
    expect(f.target()).toBe(2);
    expect(copy.closed).toBe(true);
    expect(f.scale.status().state).toBe('serving');
    expect(f.scale.nextDueAt()).toBe(2000);
  });

  it('stays serving when a count is set while it confirms (TTIN, ctl add): that count is not lost to the idle stop', () => {
    const f = fakeScaleToZero();
    f.advance(1000);
    f.scale.manage();
    const copy = f.copy();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: copy });
    f.setTarget(3);
    f.report();
    f.scale.manage();
    expect(f.target()).toBe(3);
    expect(copy.closed).toBe(true);
    expect(f.scale.status()).toEqual({ state: 'serving', wakeUps: 0, idleStops: 0 });
  });

  it('while a new arbiter (USR2) runs, accepts nothing and stays idle; once it has exited, starts the workers', () => {
    const f = fakeScaleToZero();
    f.advance(1000);
    f.scale.manage();
    const copy = f.copy();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: copy });
    f.report();
    f.scale.manage();
    expect(f.scale.status().state).toBe('idle');
    for (const record of f.workers.all()) f.workers.delete(record.id);
    f.setSucceeded(true);
    f.scale.manage();
    expect(copy.closed).toBe(true);
    expect(f.scale.status()).toEqual({ state: 'idle', wakeUps: 0, idleStops: 1 });
    f.setSucceeded(false);
    f.scale.manage();
    expect(f.target()).toBe(2);
    expect(f.scale.status()).toEqual({ state: 'waking', wakeUps: 1, idleStops: 1 });
    expect(f.lines).toContain('Waking: the re-executed arbiter exited; starting 2 workers');
  });

  it('tries again later when the lender has no spare copy, and treats a worker that does not answer as busy', () => {
    const f = fakeScaleToZero();
    f.advance(1000);
    f.scale.manage();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: undefined });
    f.report();
    f.scale.manage();
    expect(f.target()).toBe(2);
    expect(f.scale.nextDueAt()).toBe(1250);
    f.advance(250);
    f.scale.manage();
    f.scale.take({ kind: 'lent', id: 1, index: 0, handle: f.copy() });
    f.advance(1000);
    f.scale.manage();
    expect(f.target()).toBe(2);
    expect(f.scale.nextDueAt()).toBe(1250 + 1000 + 1000);
  });
});
