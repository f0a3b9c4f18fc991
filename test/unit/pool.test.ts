/** The host-wide limit (src/emperor/pool.ts): which vassals make room for one that must start, or why it waits. */
import { makeRoom, type PoolVassal } from '../../src/emperor/pool';

const NOW = 10_000_000;
const MB = 1024 * 1024;

const vassal = (name: string, over: Partial<PoolVassal> = {}): PoolVassal => ({
  name,
  onDemand: true,
  state: 'serving',
  workers: 2,
  rss: 100 * MB,
  lastRequestAt: NOW - 60_000,
  since: NOW - 600_000,
  ...over,
});

const newcomer = { name: 'new', workers: 2, rss: 100 * MB };

describe('making room on the host', () => {
  it('starts at once within the limits, counting every vassal but the one that starts', () => {
    const running = [vassal('a'), vassal('b', { onDemand: false }), vassal('new', { state: 'waiting', workers: 2 })];
    expect(makeRoom({ maxWorkers: 6 }, running, newcomer, NOW)).toEqual({ kind: 'start' });
    expect(makeRoom({ maxMemory: 300 * MB }, running, newcomer, NOW)).toEqual({ kind: 'start' });
    expect(makeRoom({}, running, newcomer, NOW)).toEqual({ kind: 'start' });
  });

  it('stops the on-demand vassals idle the longest first, idle ones before serving ones, and only as many as it takes', () => {
    const running = [
      vassal('always', { onDemand: false, lastRequestAt: NOW - 9_000_000 }),
      vassal('recent', { lastRequestAt: NOW - 30_000 }),
      vassal('old', { lastRequestAt: NOW - 3_600_000 }),
      vassal('never', { lastRequestAt: null, since: NOW - 100_000 }),
      vassal('sleeping', { state: 'idle', workers: 0, rss: 40 * MB, lastRequestAt: NOW - 1000 }),
    ];
    // 8 workers run; the limit 8 needs 2 freed: `old` (no request for an hour) frees them.
    expect(makeRoom({ maxWorkers: 8 }, running, newcomer, NOW)).toEqual({
      kind: 'stop',
      names: ['old'],
      reason: 'stopping old (no request for 1h00m) to make room for new: the host limit of 8 workers is reached (8 running, 2 more needed)',
    });
    // 4 workers to free: `old`, then `never` (none since it started, 100 s ago); `recent` serves on. An idle vassal frees no
    // worker, and is not stopped for one.
    expect(makeRoom({ maxWorkers: 6 }, running, newcomer, NOW)).toMatchObject({ kind: 'stop', names: ['old', 'never'] });
    // Memory: the idle one's arbiter goes first, then the serving ones as long as they have been idle.
    expect(makeRoom({ maxMemory: 480 * MB }, running, newcomer, NOW)).toMatchObject({ kind: 'stop', names: ['sleeping', 'old'] });
  });

  it('frees what both limits need with one list', () => {
    const running = [
      vassal('a', { lastRequestAt: NOW - 500_000, rss: 300 * MB }),
      vassal('b', { lastRequestAt: NOW - 900_000, rss: 10 * MB }),
    ];
    // Workers: one vassal is enough (b, the longest idle); memory: 410 + 100 > 300 needs a too.
    expect(makeRoom({ maxWorkers: 4, maxMemory: 300 * MB }, running, newcomer, NOW)).toMatchObject({ kind: 'stop', names: ['b', 'a'] });
  });

  it('waits, saying why, when nothing that may be stopped frees enough', () => {
    const running = [
      vassal('always', { onDemand: false }),
      vassal('busy', { lastRequestAt: NOW - 200 }),
      vassal('booting', { state: 'starting', lastRequestAt: null }),
    ];
    const room = makeRoom({ maxWorkers: 6 }, running, newcomer, NOW);
    expect(room).toEqual({
      kind: 'wait',
      reason:
        'new waits to start: the host limit of 6 workers is reached (6 running, 2 more needed), and no on-demand vassal is idle ' +
        'to be stopped (busy served a request 200ms ago)',
    });
    expect(makeRoom({ maxMemory: 350 * MB }, running, newcomer, NOW)).toEqual({
      kind: 'wait',
      reason: expect.stringContaining('the host limit of 350MB of memory is reached (300MB in use, about 100MB more needed)'),
    });
  });

  it('waits for vassals already stopping rather than stopping more', () => {
    const running = [vassal('leaving', { state: 'stopping' }), vassal('old', { lastRequestAt: NOW - 3_600_000 })];
    expect(makeRoom({ maxWorkers: 4 }, running, newcomer, NOW)).toEqual({
      kind: 'wait',
      reason: 'new waits to start: the host limit of 4 workers is reached (4 running, 2 more needed); leaving is stopping',
    });
  });

  it('never starts a vassal bigger than the limit itself', () => {
    expect(makeRoom({ maxWorkers: 4 }, [], { name: 'huge', workers: 8, rss: 0 }, NOW)).toEqual({
      kind: 'too-big',
      reason: 'huge needs 8 workers, more than the host limit of 4 workers: it cannot start however many vassals stop',
    });
  });
});
