/**
 * The arbiter's decisions on the spread of keep-alive connections (src/arbiter/balance.ts), with
 * the clock given: when it asks the workers for their counts, whom it tells to shed, and how it
 * keeps from flapping.
 */
import { ConnectionBalance, excessLoads, MAX_WAIT_MS, SETTLE_MS, type WorkerLoad } from '../../src/arbiter/balance';

const load = (id: number, connections: number, countsAt: number): WorkerLoad => ({ id, connections, countsAt });

describe('which workers shed', () => {
  it('only one holding more than a quarter over an even share, down to that share rounded up', () => {
    expect(excessLoads([load(1, 50, 0), load(2, 0, 0)])).toEqual([{ id: 1, keep: 25 }]);
    expect(excessLoads([load(1, 32, 0), load(2, 18, 0)])).toEqual([{ id: 1, keep: 25 }]);
    expect(excessLoads([load(1, 31, 0), load(2, 19, 0)])).toEqual([]);
    expect(excessLoads([load(1, 40, 0), load(2, 40, 0), load(3, 0, 0), load(4, 0, 0)])).toEqual([
      { id: 1, keep: 20 },
      { id: 2, keep: 20 },
    ]);
    // Too few connections to spread any better: 2, 1, 1, 1 over four workers.
    expect(excessLoads([load(1, 2, 0), load(2, 1, 0), load(3, 1, 0), load(4, 1, 0)])).toEqual([]);
    expect(excessLoads([load(1, 2, 0), load(2, 0, 0)])).toEqual([{ id: 1, keep: 1 }]);
    expect(excessLoads([load(1, 0, 0), load(2, 0, 0)])).toEqual([]);
  });
});

describe('the balance over time', () => {
  it('asks for counts a moment after the workers change, then sheds on them, then checks again', () => {
    const balance = new ConnectionBalance();
    // Two workers just ready: nothing until the connections have landed.
    expect(balance.step(0, [load(1, 0, -Infinity), load(2, 0, -Infinity)])).toEqual({ ask: [], shed: [], dueAt: SETTLE_MS });
    expect(balance.step(SETTLE_MS, [load(1, 0, -Infinity), load(2, 0, -Infinity)])).toEqual({ ask: [1, 2], shed: [], dueAt: Infinity });
    // Asked once: no second ask while the answers are on their way.
    expect(balance.step(SETTLE_MS + 1, [load(1, 8, SETTLE_MS + 1), load(2, 0, -Infinity)]).ask).toEqual([]);
    const t = SETTLE_MS + 2;
    expect(balance.step(t, [load(1, 8, t - 1), load(2, 0, t)])).toEqual({ ask: [], shed: [{ id: 1, keep: 4 }], dueAt: t + SETTLE_MS });
    // After the shed, its outcome is asked for; an even spread ends it.
    expect(balance.step(t + SETTLE_MS, [load(1, 8, t - 1), load(2, 0, t)]).ask).toEqual([1, 2]);
    const u = t + SETTLE_MS + 5;
    expect(balance.step(u, [load(1, 4, u), load(2, 4, u)])).toEqual({ ask: [], shed: [], dueAt: Infinity });
  });

  it('once even, decides only on heartbeats newer than its last look, and asks for nothing', () => {
    const balance = new ConnectionBalance();
    balance.step(0, [load(1, 4, 0), load(2, 4, 0)]);
    balance.step(SETTLE_MS, [load(1, 4, SETTLE_MS), load(2, 4, SETTLE_MS)]);
    // One worker has beaten since, the other not: wait.
    expect(balance.step(5000, [load(1, 8, 5000), load(2, 0, SETTLE_MS)])).toEqual({ ask: [], shed: [], dueAt: Infinity });
    expect(balance.step(5001, [load(1, 8, 5000), load(2, 0, 5001)]).shed).toEqual([{ id: 1, keep: 4 }]);
  });

  it('waits twice as long after each shed that leaves the spread uneven, up to a limit', () => {
    const balance = new ConnectionBalance();
    let now = 0;
    balance.step(now, [load(1, 8, now), load(2, 0, now)]);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      now += MAX_WAIT_MS;
      // Idle connections: the worker cannot shed them, and the counts stay as they were.
      const step = balance.step(now, [load(1, 8, now), load(2, 0, now)]);
      expect(step.shed).toEqual([{ id: 1, keep: 4 }]);
      waits.push(step.dueAt - now);
    }
    expect(waits).toEqual(waits.map((_, i) => Math.min(SETTLE_MS * 2 ** i, MAX_WAIT_MS)));
    expect(waits.at(-1)).toBe(MAX_WAIT_MS);
  });

  it('does nothing with one worker, or while it is told not to balance, and starts afresh after', () => {
    const balance = new ConnectionBalance();
    expect(balance.step(0, [load(1, 8, 0)])).toEqual({ ask: [], shed: [], dueAt: Infinity });
    expect(balance.step(0, undefined)).toEqual({ ask: [], shed: [], dueAt: Infinity });
    expect(balance.step(10, [load(1, 8, 10), load(2, 0, 10)]).dueAt).toBe(10 + SETTLE_MS);
  });
});
