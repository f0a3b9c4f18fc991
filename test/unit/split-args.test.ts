import { nearest } from '../../src/config/nearest';
import { splitArgs } from '../../src/config/split-args';
import { UnicornError } from '../../src/shared/errors';

describe('splitArgs (UNICORN_CMD_ARGS)', () => {
  it.each([
    ['-w 4  --timeout 30s', ['-w', '4', '--timeout', '30s']],
    [`--bind 'unix:/run/my app.sock' -b "[::1]:8000"`, ['--bind', 'unix:/run/my app.sock', '-b', '[::1]:8000']],
    [`--hook "./say \\"hi\\".js" --chdir /srv/a\\ b`, ['--hook', './say "hi".js', '--chdir', '/srv/a b']],
    [`--name ''`, ['--name', '']],
    ['', []],
  ])('%j', (text, words) => {
    expect(splitArgs(text)).toEqual(words);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitArgs(`-w "4`)).toThrow(UnicornError);
    expect(() => splitArgs(`-w "4`)).toThrow('UNICORN_CMD_ARGS "-w \\"4" is not accepted: a " quote is not closed');
  });
});

describe('nearest (did you mean)', () => {
  const keys = ['workers', 'workerClass', 'timeout', 'onStarting', 'postRequest', 'bind'];
  it.each([
    ['wrokers', 'workers'],
    ['worker', 'workers'],
    ['onStart', 'onStarting'],
    ['postrequest', 'postRequest'],
    ['timeuot', 'timeout'],
    ['binds', 'bind'],
    ['colour', undefined],
    ['x', undefined],
  ])('%s → %s', (name, guess) => {
    expect(nearest(name, keys)).toBe(guess);
  });
});
