import { RespawnBackoff } from '../../src/arbiter/respawn-backoff';

describe('the respawn backoff', () => {
  it('holds back one fork per failed start, doubling the delay for each in a row', () => {
    const backoff = new RespawnBackoff();
    const first = backoff.failed(0, -Infinity);
    expect(first.streak).toBe(1);
    expect(first.delayMs).toBeGreaterThanOrEqual(100);
    expect(first.delayMs).toBeLessThanOrEqual(300);
    const second = backoff.failed(10, -Infinity);
    expect(second.streak).toBe(2);
    expect(second.delayMs).toBeGreaterThanOrEqual(200);
    // Two slots wait, each for its own delay; the other forks are not held.
    expect(backoff.held(11)).toBe(2);
    // Both released once the later of the two delays is over (either may be the later: each is ±50%).
    const bothOver = Math.max(first.delayMs, 10 + second.delayMs);
    expect(backoff.held(bothOver)).toBe(0);
    expect(backoff.nextRelease(bothOver)).toBe(Infinity);
  });

  it('a worker that served since the last failure ends the streak', () => {
    const backoff = new RespawnBackoff();
    backoff.failed(0, -Infinity);
    backoff.failed(100, -Infinity);
    expect(backoff.failed(5000, 2000).streak).toBe(1);
  });

  it('a failure long after the previous one begins a new streak', () => {
    const backoff = new RespawnBackoff();
    backoff.failed(0, -Infinity);
    expect(backoff.failed(31_000, -Infinity).streak).toBe(1);
  });

  it('the delay stops growing at 10 s (±50%)', () => {
    const backoff = new RespawnBackoff();
    let last = { streak: 0, delayMs: 0 };
    for (let i = 0; i < 12; i++) last = backoff.failed(i, -Infinity);
    expect(last.delayMs).toBeGreaterThanOrEqual(5000);
    expect(last.delayMs).toBeLessThanOrEqual(15_000);
  });
});
