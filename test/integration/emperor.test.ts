/**
 * `unicorn emperor DIR` (issue 19): a vassal for each config file in DIR, started, reloaded and
 * stopped as the files come, change and go; broken and failing vassals set apart by name; signals
 * reaching every vassal, and nothing left behind when the emperor stops. On demand and SIGKILL of the
 * emperor: vassal.test.ts; what ctl shows and does: ctl-emperor.test.ts.
 */
import { existsSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ctl } from '../helpers/ctl';
import { aboutVassal, ask, startEmperor, vassalDir, vassalPid, waitForAnswer } from '../helpers/emperor';
import { request } from '../helpers/http';
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
    // No bind of its own: it would take the default (or $PORT), as every other such vassal would.
    writeFileSync(path.join(vassals.dir, 'nobind.config.json'), JSON.stringify({ app: 'hello.js' }));
    writeFileSync(path.join(vassals.dir, 'fails.js'), "throw new Error('the app cannot start');\n");
    vassals.write('failing', { app: 'fails.js' });
    const control = ['--control-socket', path.join(vassals.sockets, 'emperor.sock')];
    const emperor = startEmperor(vassals.dir, control);

    const refused = await emperor.waitForLog((l) => aboutVassal('broken')(l) && l.msg.includes('is put aside'), 'broken refused');
    expect(refused.msg).toContain('broken.config.json: workers "many" is not accepted: expected');
    const noBind = await emperor.waitForLog((l) => aboutVassal('nobind')(l) && l.msg.includes('is put aside'), 'nobind refused');
    expect(noBind.msg).toContain('nobind.config.json gives no bind: a vassal needs an address of its own, as in "bind": "unix:');
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

    // ctl shows each with its state and, for those set apart, why.
    const listed = await ctl(['--socket', path.join(vassals.sockets, 'emperor.sock'), 'vassals', '--json']);
    expect(listed.code).toBe(0);
    const states = Object.fromEntries(
      (JSON.parse(listed.stdout) as { name: string; state: string; reason: string | null }[]).map((v) => [v.name, [v.state, v.reason]]),
    );
    expect(states.good).toEqual(['serving', null]);
    expect(states.broken[0]).toBe('put-aside');
    expect(states.broken[1]).toContain('workers "many" is not accepted');
    expect(states.failing).toEqual(['put-aside', asideLine.reason]);
  }, 40_000);

  it('stops the on-demand vassal idle the longest to make room under --max-workers, and its socket still serves; --metrics shows the states', async () => {
    const vassals = vassalDir();
    vassals.write('first', { onDemand: true, idleTimeout: '30s' });
    vassals.write('second', { onDemand: true, idleTimeout: '30s' });
    const emperor = startEmperor(vassals.dir, ['--max-workers', '1', '--metrics', '127.0.0.1:0']);
    await emperor.waitForLog((l) => aboutVassal('second')(l) && l.msg.includes('waits for its first connection'), 'second held');
    // --metrics: the emperor's view of each vassal, of one that is not running too.
    const metricsUrl = (await emperor.waitForLog((l) => l.msg.startsWith('Metrics at '), 'the metrics address')).msg.slice(11);
    const states = async () =>
      Object.fromEntries(
        [...(await request(metricsUrl)).body.matchAll(/^unicorn_vassal_state\{vassal="(\w+)",state="([\w-]+)"\} 1$/gm)].map((m) => [
          m[1],
          m[2],
        ]),
      );
    expect(await states()).toEqual({ first: 'idle', second: 'idle' });
    expect((await ask(vassals.socket('first'))).name).toBe('first');
    expect((await states()).first).toMatch(/^(starting|serving)$/);
    const firstPid = vassalPid(emperor, 'first');
    // Quiet long enough for the pool to take it (a vassal that served a moment ago may be busy still).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await ask(vassals.socket('second'))).name).toBe('second');
    const room = emperor.lines('stopping first (').filter(aboutVassal('second'));
    expect(room.length).toBe(1);
    expect(room[0]!.msg).toContain('to make room for second: the host limit of 1 workers is reached');
    expect(await waitUntilGone([firstPid])).toEqual([]);
    expect((await states()).first).toBe('idle');
    // Its socket is held again: the next request wakes it (and stops second in turn, once quiet).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await ask(vassals.socket('first'))).name).toBe('first');
  });

  it('reloads every vassal on HUP, restarts a killed one, refuses USR2 in a vassal, stops every vassal and worker on TERM', async () => {
    const vassals = vassalDir();
    vassals.write('one', { workers: 2 });
    vassals.write('two');
    const emperor = startEmperor(vassals.dir);
    await waitForAnswer(vassals.socket('one'));
    await waitForAnswer(vassals.socket('two'));
    // HUP reloads every vassal: new workers for each.
    const oldWorkers = new Set(['one', 'two'].flatMap((name) => childPids(vassalPid(emperor, name))));
    emperor.signal('SIGHUP');
    for (const name of ['one', 'two']) {
      await emperor.waitForLog((l) => aboutVassal(name)(l) && l.msg === `Vassal ${name} reloading (HUP)`, `${name} reloaded`);
      const deadline = Date.now() + 15_000;
      let pid = (await ask(vassals.socket(name))).pid;
      while (oldWorkers.has(pid) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        pid = (await ask(vassals.socket(name))).pid;
      }
      expect(oldWorkers.has(pid)).toBe(false);
    }
    // A vassal killed is restarted, after the first backoff.
    const killed = vassalPid(emperor, 'two');
    process.kill(killed, 'SIGKILL');
    const failed = await emperor.waitForLog((l) => aboutVassal('two')(l) && l.msg.startsWith('Vassal two failed'), 'two failed');
    expect(failed.msg).toBe('Vassal two failed: it was killed by SIGKILL; restarting it in 1 s');
    await emperor.waitForLog(
      (l) => aboutVassal('two')(l) && l.msg.startsWith('Vassal two started') && l.vassalPid !== killed,
      'two restarted',
    );
    expect((await waitForAnswer(vassals.socket('two'))).name).toBe('two');
    // USR2 would start a successor the emperor cannot see: a vassal refuses it.
    process.kill(vassalPid(emperor, 'one'), 'SIGUSR2');
    const refused = await emperor.waitForLog((l) => l.vassal === 'one' && l.msg.startsWith('Not re-executing (USR2)'), 'USR2 refused');
    expect(refused.msg).toBe('Not re-executing (USR2): vassal one is upgraded by its emperor: HUP, or a touch of its file, reloads it');

    const all = [vassalPid(emperor, 'one'), vassalPid(emperor, 'two')].flatMap((pid) => [pid, ...childPids(pid)]);
    expect(all.length).toBe(5);
    emperor.signal('SIGTERM');
    expect(await emperor.exited).toEqual({ code: 0, signal: null });
    expect(await waitUntilGone(all)).toEqual([]);
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
    const metrics = await runToExit(['emperor', vassals.dir, '--metrics', 'unix:/run/m.sock']);
    expect(metrics.code).toBe(2);
    expect(metrics.stderr).toBe(
      'unicorn: error: --metrics "unix:/run/m.sock" is not accepted: expected HOST:PORT or [IPv6]:PORT, as in 127.0.0.1:9464 ' +
        '(port 0 takes a free port): metrics are served over TCP only\n',
    );
    const file = path.join(vassals.sockets, 'emperor.json');
    writeFileSync(file, JSON.stringify({ vassals: vassals.dir, maxWorker: 4 }));
    const unknownKey = await runToExit(['emperor', '-c', file]);
    expect(unknownKey.code).toBe(2);
    expect(unknownKey.stderr).toBe(
      `unicorn: error: ${file}: unknown key "maxWorker" (did you mean "maxWorkers"?); ` +
        "the emperor's keys are vassals, controlSocket, maxWorkers, maxMemory, metrics, logLevel, logFormat\n",
    );
    const noFile = await runToExit(['emperor', '-c', path.join(vassals.sockets, 'none.json')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(
      /^unicorn: error: -c ".*none\.json" is not accepted: expected an existing file ending in .*\(no such file: /,
    );
    writeFileSync(file, JSON.stringify({ vassals: vassals.dir, controlSocket: 7 }));
    const notAPath = await runToExit(['emperor', '-c', file]);
    expect(notAPath.code).toBe(2);
    expect(notAPath.stderr).toBe(
      `unicorn: error: ${file}: controlSocket 7 is not accepted: expected a socket path, as a string, or false for none\n`,
    );
    const onDemand = await runToExit(['--on-demand', '-b', `unix:${vassals.socket('x')}`, path.join(vassals.dir, 'hello.js')]);
    expect(onDemand.code).toBe(2);
    expect(onDemand.stderr).toMatch(
      /^unicorn: error: --on-demand is not accepted here: an on-demand app is started by `unicorn emperor DIR`/,
    );
  });
});
