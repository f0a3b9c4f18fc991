/**
 * The worker's accept back-off with a fake descriptor count and fake timers; the real
 * thing, under a real open-file limit, is in test/integration/descriptors.test.ts.
 */

import { SPARE_DESCRIPTORS } from '../../src/shared/descriptors';
import type { Logger } from '../../src/shared/log';
import { AcceptBackoff } from '../../src/worker/accept-backoff';

const LIMIT = 256;

describe('AcceptBackoff', () => {
  let open: number | Error;
  let counts: number;
  let events: string[];
  let backoff: AcceptBackoff;
  const log = {
    warn: (_: object, msg: string) => events.push(`warn: ${msg}`),
    info: (fields: { pauses: number }, msg: string) => events.push(`info: ${fields.pauses} pauses: ${msg}`),
  } as unknown as Logger;
  const accepting = { stop: () => events.push('stop'), restart: () => events.push('restart') };
  const countOpen = () => {
    counts++;
    if (open instanceof Error) throw open;
    return open;
  };
  const start = (limit: number | undefined) => (backoff = new AcceptBackoff(limit, accepting, log, countOpen));

  beforeEach(() => {
    jest.useFakeTimers();
    open = 30;
    counts = 0;
    events = [];
  });
  afterEach(() => {
    backoff.stop();
    jest.useRealTimers();
  });

  it('counts again once the connections accepted since the last count seem to leave too few, and pauses when they do', () => {
    start(LIMIT);
    expect(counts).toBe(1);
    // 226 free at the count: the 210th connection leaves 16, the 211th 15 by the estimate.
    for (let i = 0; i < 210; i++) backoff.tookOne(30 + i);
    expect(counts).toBe(1);
    open = 30 + 211;
    backoff.tookOne(240);
    expect(counts).toBe(2);
    expect(backoff.pausing).toBe(true);
    expect(events).toEqual([
      `warn: Out of file descriptors (15 of ${LIMIT} free); not accepting for a while: new connections wait in the backlog`,
      'stop',
    ]);
  });

  it('counts what the app opens every second', () => {
    start(LIMIT);
    open = LIMIT - SPARE_DESCRIPTORS;
    jest.advanceTimersByTime(1000);
    expect(backoff.pausing).toBe(false);
    open++;
    jest.advanceTimersByTime(1000);
    expect(backoff.pausing).toBe(true);
  });

  it('pauses 100 ms, twice as long each time it is still short up to a second, and counts again before accepting', () => {
    start(LIMIT);
    open = LIMIT;
    jest.advanceTimersByTime(1000);
    for (const ms of [100, 200, 400, 800, 1000, 1000]) {
      jest.advanceTimersByTime(ms - 1);
      expect(backoff.pausing).toBe(true);
      jest.advanceTimersByTime(1);
    }
    // Still short at every count: never restarted, one warning for the episode.
    expect(events.filter((e) => e === 'restart')).toEqual([]);
    expect(events.filter((e) => e.startsWith('warn'))).toHaveLength(1);
    open = 100;
    jest.advanceTimersByTime(1000);
    expect(backoff.pausing).toBe(false);
    expect(events.at(-1)).toBe('restart');
    // Over once it has accepted for 2 s without a pause: said with the count.
    jest.advanceTimersByTime(2000);
    expect(events.at(-1)).toBe('info: 7 pauses: Accepting normally again after running out of file descriptors: paused 7 times over 4.5s');
  });

  it('pauses on a failed accept, and a new episode starts from 100 ms again', () => {
    start(LIMIT);
    backoff.acceptFailed('EMFILE');
    expect(events).toEqual([
      'warn: Out of file descriptors (accept failed with EMFILE); not accepting for a while: new connections wait in the backlog',
      'stop',
    ]);
    jest.advanceTimersByTime(100);
    expect(events.at(-1)).toBe('restart');
    jest.advanceTimersByTime(2000);
    expect(events.at(-1)).toMatch(/^info: 1 pauses: /);
    backoff.acceptFailed('ENFILE');
    jest.advanceTimersByTime(99);
    expect(backoff.pausing).toBe(true);
    jest.advanceTimersByTime(1);
    expect(backoff.pausing).toBe(false);
  });

  it('takes a count it cannot make for want of a descriptor as none free', () => {
    start(LIMIT);
    open = Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    jest.advanceTimersByTime(1000);
    expect(backoff.pausing).toBe(true);
  });

  it('where descriptors cannot be counted (/proc/self/fd hidden), pauses on a connection given one of the last numbers', () => {
    open = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    start(LIMIT);
    expect(jest.getTimerCount()).toBe(0);
    backoff.tookOne(LIMIT - SPARE_DESCRIPTORS - 1);
    expect(backoff.pausing).toBe(false);
    backoff.tookOne(LIMIT - SPARE_DESCRIPTORS);
    expect(events[0]).toBe(
      `warn: Out of file descriptors (a connection took descriptor ${LIMIT - SPARE_DESCRIPTORS} of ${LIMIT}); not accepting for a while: new connections wait in the backlog`,
    );
  });

  it('does nothing without a known limit but pause on a failed accept', () => {
    start(undefined);
    expect(counts).toBe(0);
    backoff.tookOne(100_000);
    expect(backoff.pausing).toBe(false);
    backoff.acceptFailed('EMFILE');
    expect(backoff.pausing).toBe(true);
  });
});
