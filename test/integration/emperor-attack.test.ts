/**
 * `unicorn emperor DIR` under hostile load (issue 19): no request may fail across an on-demand
 * vassal's wake-up and idle exit, however many connections arrive at once.
 */
import { aboutVassal, startEmperor, vassalDir } from '../helpers/emperor';
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
});
