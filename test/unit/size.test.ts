import { formatSize, parseSize } from '../../src/config/size';

describe('parseSize', () => {
  it.each([
    ['512MB', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['512MiB', 512 * 1024 ** 2],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['800k', 800 * 1024],
    ['1048576', 1048576],
    ['100B', 100],
    ['0', 0],
    [' 2 GB ', 2 * 1024 ** 3],
  ])('%j is %d bytes', (raw, expected) => {
    expect(parseSize(raw)).toBe(expected);
  });

  it.each(['', 'lots', '-1MB', '5 parsecs', '12XB', 'MB', '1.2.3M'])('refuses %j', (raw) => {
    expect(parseSize(raw)).toBeUndefined();
  });

  it('formats sizes for logs', () => {
    expect(formatSize(512 * 1024 ** 2)).toBe('512MB');
    expect(formatSize(1536)).toBe('1.5KB');
    expect(formatSize(10)).toBe('10B');
  });
});
