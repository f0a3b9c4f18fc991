/**
 * `unicorn emperor DIR` (issue 19): a vassal for each config file in DIR, started, reloaded and
 * stopped as the files come, change and go; broken and failing vassals set apart by name; signals
 * reaching every vassal, and nothing left behind when the emperor goes, even by SIGKILL.
 */
import { existsSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { aboutVassal, ask, startEmperor, vassalDir, vassalPid, waitForAnswer } from '../helpers/emperor';
import { childPids, runToExit, waitUntilGone } from '../helpers/unicorn';

describe('unicorn emperor', () => {
  it('serves a vassal for each file, with %n its name; starts a new file, reloads a touched one without a failed request, stops a removed one', async () => {
    const vassals = vassalDir();
    vassals.write('site-a');
    vassals.write('site-b');
    const emperor = startEmperor(vassals.dir);
    expect((await waitForAnswer(vassals.socket('site-a'))).name).toBe('site-a');
    expect((await waitForAnswer(vassals.socket('site-b'))).name).toBe('site-b');

    // A family: a symlink to a template (which, starting with _, is no vassal itself).
    writeFileSync(path.join(vassals.dir, '_family.json'), JSON.stringify({ bind: `unix:${vassals.sockets}/%n.sock`, app: 'hello.js' }));
    symlinkSync('_family.json', path.join(vassals.dir, 'site-c.config.json'));
    expect((await waitForAnswer(vassals.socket('site-c'))).name).toBe('site-c');
    expect(emperor.logs.some(aboutVassal('_family'))).toBe(false);

    // Touched: reloaded (new workers), every request during it served.
    const before = await ask(vassals.socket('site-a'));
    const later = new Date(Date.now() + 10_000);
    utimesSync(path.join(vassals.dir, 'site-a.config.json'), later, later);
    let failed = 0;
    let served = 0;
    let now = before;
    const deadline = Date.now() + 15_000;
    while (now.pid === before.pid && Date.now() < deadline) {
      try {
        now = await ask(vassals.socket('site-a'));
        served++;
      } catch {
        failed++;
      }
    }
    expect(now.pid).not.toBe(before.pid);
    expect({ failed, served: served > 0 }).toEqual({ failed: 0, served: true });
    expect(emperor.logs.some((l) => aboutVassal('site-a')(l) && l.msg === 'Vassal site-a reloading (HUP)')).toBe(true);

    // Removed: stopped gracefully, its socket gone with it; the others serve on.
    const removedPid = vassalPid(emperor, 'site-b');
    unlinkSync(path.join(vassals.dir, 'site-b.config.json'));
    await emperor.waitForLog((l) => aboutVassal('site-b')(l) && l.msg === 'Vassal site-b removed', 'site-b removed');
    expect(await waitUntilGone([removedPid])).toEqual([]);
    expect(existsSync(vassals.socket('site-b'))).toBe(false);
    expect((await ask(vassals.socket('site-c'))).name).toBe('site-c');
  });

  it('refuses a broken file by name and puts a failing app aside with its reason, while the others serve', async () => {
    const vassals = vassalDir();
    vassals.write('good');
    // A second file of one name is refused, naming both (the first in the directory's order is the vassal).
    writeFileSync(
      path.join(vassals.dir, 'good.config.js'),
      `module.exports = ${JSON.stringify({ bind: `unix:${vassals.sockets}/%n.sock`, app: 'hello.js', workers: 1 })};\n`,
    );
    vassals.write('broken', { workers: 'many' });
    writeFileSync(path.join(vassals.dir, 'fails.js'), "throw new Error('the app cannot start');\n");
    vassals.write('failing', { app: 'fails.js' });
    const emperor = startEmperor(vassals.dir);

    const refused = await emperor.waitForLog((l) => aboutVassal('broken')(l) && l.msg.includes('is put aside'), 'broken refused');
    expect(refused.msg).toContain('broken.config.json: workers "many" is not accepted: expected');
    const duplicate = 'good.config.json is not started: the vassal good is already good.config.js; one name, one config file';
    expect(emperor.logs.some((l) => aboutVassal('good')(l) && l.msg === duplicate)).toBe(true);

    const asideLine = await emperor.waitForLog(
      (l) => aboutVassal('failing')(l) && l.msg.includes('is put aside (it keeps failing)'),
      'failing put aside',
      25_000,
    );
    expect(asideLine.reason).toMatch(/code 4|cannot start/);
    // Put aside: not started again.
    const starts = emperor.lines('Vassal failing started').length;
    expect(starts).toBe(3);
    expect((await ask(vassals.socket('good'))).name).toBe('good');
  }, 40_000);

  it('stops every vassal and worker on TERM, and leaves none behind when killed by SIGKILL', async () => {
    const vassals = vassalDir();
    vassals.write('one', { workers: 2 });
    vassals.write('two');
    const emperor = startEmperor(vassals.dir);
    await waitForAnswer(vassals.socket('one'));
    await waitForAnswer(vassals.socket('two'));
    const pids = () => [vassalPid(emperor, 'one'), vassalPid(emperor, 'two')].flatMap((pid) => [pid, ...childPids(pid)]);
    const all = pids();
    expect(all.length).toBe(5);
    emperor.signal('SIGTERM');
    expect(await emperor.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone(all)).toEqual([]);

    const again = startEmperor(vassals.dir);
    await waitForAnswer(vassals.socket('one'));
    await waitForAnswer(vassals.socket('two'));
    const left = [vassalPid(again, 'one'), vassalPid(again, 'two')].flatMap((pid) => [pid, ...childPids(pid)]);
    expect(left.length).toBe(5);
    process.kill(again.pid, 'SIGKILL');
    expect(await waitUntilGone(left, 15_000)).toEqual([]);
  });

  it('refuses bad input in one line, exit 2', async () => {
    const missing = await runToExit(['emperor', '/nonexistent/vassals']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'unicorn: error: DIR "/nonexistent/vassals" is not accepted: expected a directory of vassal config files (no such directory: /nonexistent/vassals)\n',
    );
    const vassals = vassalDir();
    const limit = await runToExit(['emperor', vassals.dir, '--max-memory', 'lots']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/^unicorn: error: --max-memory "lots" is not accepted: expected a size such as 512MB/);
    const onDemand = await runToExit(['--on-demand', '-b', `unix:${vassals.socket('x')}`, path.join(vassals.dir, 'hello.js')]);
    expect(onDemand.code).toBe(2);
    expect(onDemand.stderr).toMatch(
      /^unicorn: error: --on-demand is not accepted here: an on-demand app is started by `unicorn emperor DIR`/,
    );
  });
});
