import { parseDuration } from '../../src/config/duration';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['30', 30_000],
    ['0.5', 500],
    ['0', 0],
    [' 5s ', 5000],
  ])('%j is %d ms', (raw, expected) => {
    expect(parseDuration(raw)).toBe(expected);
  });

  it.each(['', 'soon', '-1s', '-5', '5 parsecs', 'Infinity'])('refuses %j', (raw) => {
    expect(parseDuration(raw)).toBeUndefined();
  });
});
