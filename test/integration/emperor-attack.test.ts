/**
 * `unicorn emperor DIR` under hostile load (issue 19): no request may fail across an on-demand
 * vassal's wake-up and idle exit, however many connections arrive at once.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { aboutVassal, startEmperor, vassalDir, waitForAnswer } from '../helpers/emperor';
import { request } from '../helpers/http';

/** `count` requests at once, each on a connection of its own: the failures by reason. */
async function burst(socketPath: string, count: number): Promise<{ ok: number; failed: Record<string, number> }> {
  const failed: Record<string, number> = {};
  let ok = 0;
  const fail = (why: string) => {
    failed[why] = (failed[why] ?? 0) + 1;
  };
  await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const reply = await request('http://localhost/', { socketPath, timeoutMs: 20_000 });
        if (reply.status === 200) ok++;
        else fail(`status ${reply.status}`);
      } catch (err) {
        fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
    }),
  );
  return { ok, failed };
}

describe('unicorn emperor under attack', () => {
  it.each(['sync', 'async'])(
    'serves every one of 150 connections arriving at once at a cold on-demand vassal (%s)',
    async (workerClass) => {
      const vassals = vassalDir();
      vassals.write('cold', { onDemand: true, idleTimeout: '30s', workerClass });
      const emperor = startEmperor(vassals.dir);
      await emperor.waitForLog((l) => aboutVassal('cold')(l) && l.msg.includes('waits for its first connection'), 'cold held');
      expect(await burst(vassals.socket('cold'), 150)).toEqual({ ok: 150, failed: {} });
      expect(emperor.lines('Vassal cold started').length).toBe(1);
    },
  );

  it('under ulimit -n 64, a burst of 200 at a cold on-demand vassal starts it: what cannot be held is closed, and it serves on', async () => {
    const vassals = vassalDir();
    vassals.write('tight', { onDemand: true, idleTimeout: '30s' });
    const emperor = startEmperor(vassals.dir, [], { openFiles: 64 });
    await emperor.waitForLog((l) => aboutVassal('tight')(l) && l.msg.includes('waits for its first connection'), 'tight held');
    const { ok } = await burst(vassals.socket('tight'), 200);
    // Those held are served; the emperor says once that it closes the others.
    expect(ok).toBeGreaterThan(0);
    expect(emperor.lines('Out of file descriptors').filter(aboutVassal('tight')).length).toBe(1);
    expect(await burst(vassals.socket('tight'), 20)).toEqual({ ok: 20, failed: {} });
    expect(emperor.logs.filter((l) => aboutVassal('tight')(l) && /put aside|could not be started/.test(l.msg))).toEqual([]);
    expect(emperor.lines('Vassal tight started').length).toBe(1);
  });

  it('starts the second file of a name when the first, its vassal, is removed', async () => {
    const vassals = vassalDir();
    writeFileSync(
      path.join(vassals.dir, 'twice.config.cjs'),
      `module.exports = { bind: 'unix:${vassals.sockets}/%n.sock', app: 'hello.js' };\n`,
    );
    vassals.write('twice');
    const emperor = startEmperor(vassals.dir);
    expect((await waitForAnswer(vassals.socket('twice'))).name).toBe('twice');
    unlinkSync(path.join(vassals.dir, 'twice.config.cjs'));
    await emperor.waitForLog((l) => aboutVassal('twice')(l) && l.msg.includes('Vassal twice removed'), 'twice removed');
    // The file left describes the vassal now.
    expect((await waitForAnswer(vassals.socket('twice'))).name).toBe('twice');
    expect(emperor.lines('Vassal twice started').map((l) => l.file)).toEqual([
      path.join(vassals.dir, 'twice.config.cjs'),
      path.join(vassals.dir, 'twice.config.json'),
    ]);
  });

  it('keeps vassals waking at once under --max-workers: those started but not yet reporting count', async () => {
    const vassals = vassalDir();
    const names = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'];
    for (const name of names) vassals.write(name, { onDemand: true, idleTimeout: '30s' });
    const emperor = startEmperor(vassals.dir, ['--max-workers', '3']);
    await emperor.waitForLog((l) => aboutVassal('w6')(l) && l.msg.includes('waits for its first connection'), 'w6 held');
    const replies = await Promise.all(names.map((name) => burst(vassals.socket(name), 5)));
    expect(replies).toEqual(names.map(() => ({ ok: 5, failed: {} })));
    // Three fit; each of the others waited for room, or stopped one to make it.
    const waited = new Set(emperor.logs.filter((l) => /waits to start|to make room/.test(l.msg)).map((l) => l.vassal));
    expect(waited.size).toBeGreaterThanOrEqual(3);
  });
});
