import { formatDuration, parseDuration } from '../../src/config/duration';

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

describe('formatDuration', () => {
  it.each([
    [30_000, '30s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [1500, '1.5s'],
    [3_600_000, '1h'],
    [300, '300ms'],
    [0, '0ms'],
  ])('%d → %s', (millis, text) => {
    expect(formatDuration(millis)).toBe(text);
  });
});
