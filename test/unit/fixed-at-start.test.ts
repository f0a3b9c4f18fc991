import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keepFixedAtStart, type OptionKey, type RawOptions, resolveSettings, SETTINGS } from '../../src/config/settings';

const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-fixed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settingsOf = (flags: RawOptions) => resolveSettings('app', flags, {}, dir).settings;

/** A value other than the default for each setting a reload cannot change, as a flag gives it. */
const CHANGED: Partial<Record<OptionKey, string | string[]>> = {
  bind: ['127.0.0.1:9'],
  reusePort: 'true',
  user: 'root',
  group: '0',
  initgroups: 'true',
  umask: '0077',
  errorLogfile: path.join(dir, 'error.log'),
  logLevel: 'warn',
  logFormat: 'text',
};

const fixedKeys = SETTINGS.filter((s) => s.fixedAtStart).map((s) => s.key);

describe('what a reload cannot change', () => {
  it('is the sockets, the workers’ identity and umask, and the error log', () => {
    expect(fixedKeys).toEqual(['bind', 'reusePort', 'user', 'group', 'initgroups', 'umask', 'errorLogfile', 'logLevel', 'logFormat']);
  });

  it.each(fixedKeys)('%s is kept on a reload, with one warning naming it', (key) => {
    expect(CHANGED).toHaveProperty(key);
    const running = settingsOf({ logFormat: 'json' });
    const reread = settingsOf({ logFormat: 'json', [key]: CHANGED[key], workers: '3' });
    expect(reread[key]).not.toEqual(running[key]);
    const flag = /--[\w-]+/.exec(SETTINGS.find((s) => s.key === key)!.flags)![0];
    const kept = keepFixedAtStart(running, reread);
    expect(kept.settings[key]).toEqual(running[key]);
    expect(kept.settings.workers).toBe(3);
    expect(kept.ignored).toEqual([flag]);
    expect(kept.warning).toMatch(new RegExp(`^${flag} changes take effect on a restart or USR2 re-exec; keeping ${flag} \\S`));
  });

  it('names every change in one warning, in --help order, with the values kept', () => {
    const running = settingsOf({ logFormat: 'json' });
    const kept = keepFixedAtStart(running, settingsOf({ ...CHANGED, workers: '3' }));
    expect(kept.settings).toEqual({ ...running, workers: 3, workerBounds: { min: 3, max: 3, by: 'count' } });
    const flags = ['--bind', '--reuse-port', '--user', '--group', '--initgroups', '--umask'];
    flags.push('--error-logfile', '--log-level', '--log-format');
    expect(kept.ignored).toEqual(flags);
    const values = ['http://127.0.0.1:8000', 'false', '(none)', '(none)', 'false', '(none)', '-', 'info', 'json'];
    const keeping = flags.map((flag, i) => `${flag} ${values[i]}`).join(', ');
    expect(kept.warning).toBe(`${flags.join(', ')} changes take effect on a restart or USR2 re-exec; keeping ${keeping}`);
  });

  it('says nothing when none of them changed', () => {
    const running = settingsOf({ ...CHANGED });
    const reread = settingsOf({ ...CHANGED, workers: '3', timeout: '5s' });
    expect(keepFixedAtStart(running, reread)).toEqual({ settings: reread, ignored: [], warning: undefined });
  });
});
