/**
 * Review of `unicorn emperor` (issue 19): the host limit holds while vassals are still starting.
 */
import { aboutVassal, startEmperor, vassalDir, waitForAnswer } from '../helpers/emperor';

describe('unicorn emperor, reviewed', () => {
  it('keeps --max-workers when several vassals start at once: the ones that do not fit wait', async () => {
    const vassals = vassalDir();
    for (const name of ['a', 'b', 'c']) vassals.write(name);
    const emperor = startEmperor(vassals.dir, ['--max-workers', '2']);
    await emperor.waitForLog((l) => l.msg.includes('waits to start'), 'a vassal waiting for room');
    // Two of the three serve; the third is waiting, not started.
    const answers = await Promise.allSettled(['a', 'b', 'c'].map((name) => waitForAnswer(vassals.socket(name), 3000)));
    expect(answers.filter((a) => a.status === 'fulfilled').length).toBe(2);
    const started = ['a', 'b', 'c'].filter((name) => emperor.logs.some((l) => aboutVassal(name)(l) && l.msg.startsWith(`Vassal ${name} started`)));
    expect(started.length).toBe(2);
  });
});
