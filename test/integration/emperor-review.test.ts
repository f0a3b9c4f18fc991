/**
 * Review of `unicorn emperor` (issue 19): the host limit holds while vassals are still starting;
 * a vassal stopped by `ctl stop NAME` stays stopped through a reload of every vassal.
 */
import { existsSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ctl } from '../helpers/ctl';
import { aboutVassal, ask, startEmperor, vassalDir, vassalPid, waitForAnswer } from '../helpers/emperor';
import { type LogLine, waitUntilGone } from '../helpers/unicorn';

describe('unicorn emperor, reviewed', () => {
  it('keeps --max-workers when several vassals start at once: the ones that do not fit wait', async () => {
    const vassals = vassalDir();
    for (const name of ['a', 'b', 'c']) vassals.write(name);
    const emperor = startEmperor(vassals.dir, ['--max-workers', '2']);
    await emperor.waitForLog((l) => l.msg.includes('waits to start'), 'a vassal waiting for room');
    // Two of the three serve; the third is waiting, not started.
    const answers = await Promise.allSettled(['a', 'b', 'c'].map((name) => waitForAnswer(vassals.socket(name), 3000)));
    expect(answers.filter((a) => a.status === 'fulfilled').length).toBe(2);
    const started = ['a', 'b', 'c'].filter((name) =>
      emperor.logs.some((l) => aboutVassal(name)(l) && l.msg.startsWith(`Vassal ${name} started`)),
    );
    expect(started.length).toBe(2);
  });

  it('keeps a vassal stopped by ctl stopped when every vassal is reloaded (HUP, ctl reload)', async () => {
    const vassals = vassalDir();
    vassals.write('kept');
    vassals.write('halted');
    const socket = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-')), 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket]);
    await Promise.all(['kept', 'halted'].map((name) => waitForAnswer(vassals.socket(name))));
    expect((await ctl(['--socket', socket, 'stop', 'halted'])).code).toBe(0);
    expect(existsSync(vassals.socket('halted'))).toBe(false);

    emperor.proc.kill('SIGHUP');
    await emperor.waitForLog((l) => aboutVassal('kept')(l) && l.msg.startsWith('Vassal kept reloading'), 'kept reloaded by HUP');
    expect((await ctl(['--socket', socket, 'reload'])).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(emperor.lines('Vassal halted started').length).toBe(1);
    const listed = JSON.parse((await ctl(['--socket', socket, 'vassals', '--json'])).stdout) as { name: string; state: string }[];
    expect(listed.find((v) => v.name === 'halted')?.state).toBe('stopped');
  });

  it('cancels the pending restart of a crashed vassal when ctl starts it', async () => {
    const vassals = vassalDir();
    vassals.write('crashy');
    const socket = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-ctl-')), 'emperor.sock');
    const emperor = startEmperor(vassals.dir, ['--control-socket', socket]);
    await waitForAnswer(vassals.socket('crashy'));
    const first = vassalPid(emperor, 'crashy');
    process.kill(first, 'SIGKILL');
    await emperor.waitForLog((l) => aboutVassal('crashy')(l) && l.msg.includes('restarting it in 1 s'), 'the restart scheduled');
    expect((await ctl(['--socket', socket, 'start', 'crashy'])).code).toBe(0);
    await waitForAnswer(vassals.socket('crashy'));
    const second = vassalPid(emperor, 'crashy');
    // Past the 1 s the restart would have waited: it does not come, and no restart is counted.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(vassalPid(emperor, 'crashy')).toBe(second);
    const listed = JSON.parse((await ctl(['--socket', socket, 'vassals', '--json'])).stdout) as { restarts: number; pid: number }[];
    expect(listed[0]).toMatchObject({ restarts: 0, pid: second });
    expect(await waitUntilGone([first])).toEqual([]);
  });

  it('honours the backoff and puts aside an on-demand vassal whose app never loads, though clients keep coming', async () => {
    const vassals = vassalDir();
    writeFileSync(path.join(vassals.dir, 'broken.js'), "throw new Error('no app here');\n");
    vassals.write('broken', { onDemand: true, app: 'broken.js' });
    const emperor = startEmperor(vassals.dir);
    await emperor.waitForLog((l) => aboutVassal('broken')(l) && l.msg.includes('waits for its first connection'), 'broken held');
    // A client every 100 ms: each would start it again at once if the backoff were not kept.
    let putAside = false;
    void emperor
      .waitForLog((l) => aboutVassal('broken')(l) && l.msg.includes('is put aside'), 'broken put aside', 20_000)
      .then(
        () => (putAside = true),
        () => {},
      );
    const begun = Date.now();
    while (!putAside && Date.now() - begun < 20_000) {
      await ask(vassals.socket('broken')).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(putAside).toBe(true);
    const starts = emperor.lines('Vassal broken started');
    expect(starts.length).toBe(3);
    // 1 s, then 2 s between them: no start came sooner than its backoff.
    const at = starts.map((l) => Date.parse(l.time as string));
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(900);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(1900);
    // Put aside, its socket is closed: clients are refused, and nothing starts it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(emperor.lines('Vassal broken started').length).toBe(3);
    expect(existsSync(vassals.socket('broken'))).toBe(false);
  });

  it('hurries a graceful stop when QUIT follows TERM, as a single unicorn does', async () => {
    const vassals = vassalDir();
    writeFileSync(path.join(vassals.dir, 'hang.js'), 'module.exports = (req, res) => {};\n');
    vassals.write('slow', { app: 'hang.js', gracefulTimeout: '60s' });
    const emperor = startEmperor(vassals.dir);
    await emperor.waitForLog((l) => aboutVassal('slow')(l) && l.msg.includes('started'), 'slow started');
    const serving = (l: LogLine) => (l.message as { state?: string } | undefined)?.state === 'serving';
    await emperor.waitForLog((l) => aboutVassal('slow')(l) && serving(l), 'slow serving');
    // A request that is never answered keeps the graceful stop waiting.
    const hanging = net.connect(vassals.socket('slow'), () => hanging.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    emperor.proc.kill('SIGTERM');
    await emperor.waitForLog((l) => l.msg.startsWith('Emperor stopping 1 vassals gracefully'), 'the graceful stop');
    emperor.proc.kill('SIGQUIT');
    const timedOut = new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000));
    const code = await Promise.race([emperor.exited.then((e) => e.code), timedOut]);
    hanging.destroy();
    expect(code).toBe(0);
  });

  it('moves a vassal to its new bind when its file changes it (a reload would keep the old sockets)', async () => {
    const vassals = vassalDir();
    const moved = (name: string) => ({ bind: `unix:${vassals.sockets}/${name}-moved.sock` });
    vassals.write('plain');
    vassals.write('lazy', { onDemand: true });
    const emperor = startEmperor(vassals.dir);
    expect((await waitForAnswer(vassals.socket('plain'))).name).toBe('plain');
    expect((await waitForAnswer(vassals.socket('lazy'))).name).toBe('lazy');
    vassals.write('plain', moved('plain'));
    vassals.write('lazy', moved('lazy'));
    expect((await waitForAnswer(path.join(vassals.sockets, 'plain-moved.sock'))).name).toBe('plain');
    expect((await waitForAnswer(path.join(vassals.sockets, 'lazy-moved.sock'))).name).toBe('lazy');
    await emperor.waitForLog(() => !existsSync(vassals.socket('plain')) && !existsSync(vassals.socket('lazy')), 'the old sockets gone');
  });

  it('leaves vassals that are still starting to stop quietly when the emperor is killed', async () => {
    const vassals = vassalDir();
    const names = ['v1', 'v2', 'v3', 'v4'];
    for (const name of names) vassals.write(name);
    const emperor = startEmperor(vassals.dir);
    await emperor.waitForLog((l) => l.msg.startsWith('Vassal v4 started'), 'the last vassal started');
    emperor.proc.kill('SIGKILL');
    const pids = names.map((name) => vassalPid(emperor, name));
    expect(await waitUntilGone(pids, 15_000)).toEqual([]);
    await emperor.outputClosed;
    expect(emperor.stderr).not.toContain('EPIPE');
    expect(emperor.stderr).not.toContain("Unhandled 'error' event");
  });

  it('keeps its vassals when HUP finds the directory gone, and says so in one line', async () => {
    const vassals = vassalDir();
    vassals.write('stays');
    const emperor = startEmperor(vassals.dir);
    await waitForAnswer(vassals.socket('stays'));
    renameSync(vassals.dir, `${vassals.dir}-moved`);
    emperor.proc.kill('SIGHUP');
    const line = await emperor.waitForLog((l) => l.role === 'emperor' && l.level === 'error', 'the refusal');
    expect(line.msg).toBe(`cannot read the vassal directory ${vassals.dir}: no such directory; the vassals run on as they were`);
    expect((await ask(vassals.socket('stays'))).name).toBe('stays');
    expect(emperor.stderr).not.toContain('    at ');
  });
});
