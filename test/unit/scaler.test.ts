/**
 * The adaptive worker count's decisions (src/arbiter/elastic/scaler.ts) on a clock the test moves,
 * with worker records whose heartbeats the test writes: no fork. The real-process side is
 * test/integration/adaptive.test.ts.
 */
import { Scaler, type ScalerSettings } from '../../src/arbiter/elastic/scaler';
import { WorkerTable } from '../../src/arbiter/worker-table';
import type { Logger } from '../../src/shared/log';
import { workerRecord } from '../helpers/arbiter-fakes';

const SETTINGS: ScalerSettings = {
  workerBounds: { min: 1, max: 4, by: 'load' },
  idleTimeout: 0,
  scaleUpAt: 0.7,
  scaleDownAt: 0.3,
  scaleBacklog: 16,
  scaleWindow: 10_000,
  scaleCooldown: 10_000,
  scaleDownAfter: 30_000,
  // Heartbeats every second, as with --workers MIN:MAX (worker-process.ts, heartbeatInterval).
  timeout: 30_000,
};

function fakeScaler(overrides: Partial<ScalerSettings> = {}, start = 1) {
  let time = 0;
  let target = start;
  let paused = false;
  let backlog: number | undefined;
  const logged: string[] = [];
  const log = { info: (_fields: unknown, message: string) => logged.push(message) } as unknown as Logger;
  const workers = new WorkerTable();
  const settings = { ...SETTINGS, ...overrides };
  let lastId = 0;
  const scaler = new Scaler({
    now: () => time,
    log,
    settings: () => settings,
    workers,
    target: () => target,
    setTarget: (count) => (target = count),
    backlog: () => backlog,
    paused: () => paused,
  });
  /** The workers the target asks for, ready (as staffing and the workers' ready messages make them). */
  const staff = () => {
    const all = workers.all();
    for (const record of all.slice(target)) workers.delete(record.id);
    for (let i = all.length; i < target; i++) {
      const id = ++lastId;
      workers.add(workerRecord(id, { state: 'ready', everReady: true, readyAt: time, spawnedAt: time }));
    }
  };
  staff();
  return {
    scaler,
    logged,
    target: () => target,
    setBacklog: (n: number | undefined) => (backlog = n),
    pause: (p: boolean) => (paused = p),
    /** TTIN, TTOU, ctl scale (the arbiter's setTarget). */
    setByHand(count: number): void {
      scaler.setByHand(target, count);
      target = count;
      staff();
    },
    /** `ms` of loop turns a second apart with no heartbeat. */
    silent(ms: number): void {
      for (let t = 0; t < ms; t += 1000) {
        time += 1000;
        scaler.consider();
      }
    },
    /** `ms` of loop turns a second apart, each worker's heartbeat saying `elu`. */
    run(ms: number, elu: number): void {
      for (let t = 0; t < ms; t += 1000) {
        time += 1000;
        for (const record of workers.values()) Object.assign(record, { elu, countsAt: time, lastBeat: time });
        scaler.consider();
        staff();
      }
    },
  };
}

describe('the adaptive worker count', () => {
  it('doubles while the workers are saturated, which says only that the work outgrows them', () => {
    const s = fakeScaler({ workerBounds: { min: 1, max: 8, by: 'load' } }, 1);
    s.run(10_000, 1);
    expect(s.target()).toBe(2);
    s.run(10_000, 0.98);
    expect(s.target()).toBe(4);
    expect(s.logged).toEqual(['Scaling 1 → 2 workers: busy 1.00 for 10s', 'Scaling 2 → 4 workers: busy 0.98 for 10s']);
  });

  it('grows once the window has been busy, by as many as bring the mean under the mark, and logs why', () => {
    const s = fakeScaler({}, 2);
    s.run(9_000, 0.9);
    expect(s.target()).toBe(2);
    s.run(1_000, 0.9);
    // 2 × 0.9 / 0.7 = 2.6: three workers.
    expect(s.target()).toBe(3);
    expect(s.logged).toEqual(['Scaling 2 → 3 workers: busy 0.90 for 10s']);
    expect(s.scaler.stats()).toMatchObject({ min: 1, max: 4, changes: { up: 1, down: 0 }, last: { from: 2, to: 3, age: 0 } });
  });

  it('does not grow on a busy moment that the window averages away', () => {
    const s = fakeScaler();
    for (let i = 0; i < 6; i++) {
      s.run(2_000, 0.95);
      s.run(3_000, 0.2);
    }
    expect(s.target()).toBe(1);
    expect(s.logged).toEqual([]);
  });

  it('waits out the cooldown after a change, and measures the new count afresh', () => {
    const s = fakeScaler({ scaleCooldown: 15_000 });
    s.run(14_000, 1);
    expect(s.target()).toBe(1);
    s.run(1_000, 1);
    expect(s.target()).toBe(2);
    s.run(14_000, 1);
    expect(s.target()).toBe(2);
    s.run(1_000, 1);
    // Still saturated: doubled.
    expect(s.target()).toBe(4);
  });

  it('grows on a queue in the backlog alone, one at a time, and never past MAX', () => {
    const s = fakeScaler({ workerBounds: { min: 1, max: 2, by: 'load' } });
    s.setBacklog(41);
    s.run(10_000, 0.1);
    expect(s.logged).toEqual(['Scaling 1 → 2 workers: busy 0.10 for 10s, backlog 41']);
    s.run(60_000, 1);
    expect(s.target()).toBe(2);
  });

  it('shrinks one at a time after the load has been low for --scale-down-after, later than it grows', () => {
    const s = fakeScaler({}, 3);
    s.run(29_000, 0.1);
    expect(s.target()).toBe(3);
    s.run(1_000, 0.1);
    expect(s.target()).toBe(2);
    expect(s.logged).toEqual(['Scaling 3 → 2 workers: busy 0.10 for 30s']);
    s.run(30_000, 0.1);
    expect(s.target()).toBe(1);
    // Never below MIN.
    s.run(120_000, 0);
    expect(s.target()).toBe(1);
    expect(s.scaler.stats()?.changes).toEqual({ up: 0, down: 2 });
  });

  it('does not shrink when the workers left would be busy past the mark that adds one back', () => {
    // 2 workers at 0.3 would be 1 at 0.6: fine; at 0.36 (down mark 0.4) it would be 0.72: not.
    const s = fakeScaler({ scaleDownAt: 0.4 }, 2);
    s.run(120_000, 0.36);
    expect(s.target()).toBe(2);
    s.run(30_000, 0.3);
    expect(s.target()).toBe(1);
  });

  it('does not shrink while the last window is busier than the low mark', () => {
    const s = fakeScaler({}, 2);
    s.run(25_000, 0);
    s.run(5_000, 0.8);
    expect(s.target()).toBe(2);
    expect(s.logged).toEqual([]);
  });

  it('does nothing during a pause (reload, stop, idle), and measures afresh after it', () => {
    const s = fakeScaler();
    s.pause(true);
    s.run(30_000, 1);
    expect(s.target()).toBe(1);
    s.pause(false);
    s.run(9_000, 1);
    expect(s.target()).toBe(1);
    s.run(1_000, 1);
    expect(s.target()).toBe(2);
  });

  it('a count set by hand stands until the load, measured afresh after the cooldown, says otherwise', () => {
    const s = fakeScaler({}, 2);
    s.run(25_000, 0.05);
    s.setByHand(4);
    expect(s.scaler.stats()?.last).toEqual({ from: 2, to: 4, reason: 'set by hand', age: 0 });
    // The low load before the change does not count towards removing one of the four.
    s.run(29_000, 0.05);
    expect(s.target()).toBe(4);
    s.run(1_000, 0.05);
    expect(s.target()).toBe(3);
    expect(s.scaler.stats()?.changes).toEqual({ up: 0, down: 1 });
  });

  it('reads only what the workers reported since the last change', () => {
    const s = fakeScaler();
    s.run(10_000, 1);
    expect(s.target()).toBe(2);
    // Their last heartbeats said 1.0, before the change: not read again while the next are not yet due.
    s.silent(7_000);
    expect(s.target()).toBe(2);
  });

  it('counts a worker past its heartbeat as busy, whatever its last heartbeat said', () => {
    const s = fakeScaler({ scaleCooldown: 1000, scaleWindow: 1000 });
    s.run(2_000, 0);
    // Held on the CPU (or by a sync request) after a heartbeat that said idle: late after 1.5 s.
    s.silent(1_000);
    expect(s.target()).toBe(1);
    s.silent(2_000);
    expect(s.target()).toBeGreaterThan(1);
  });

  it('leaves a fixed count alone', () => {
    const s = fakeScaler({ workerBounds: { min: 2, max: 2, by: 'count' } }, 2);
    s.run(60_000, 1);
    expect(s.target()).toBe(2);
    expect(s.scaler.stats()).toBeNull();
  });
});
