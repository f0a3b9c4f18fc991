import { HookQueue } from '../../src/arbiter/hook-queue';
import { HookRunner } from '../../src/hooks/run';
import type { ArbiterView, Hooks, WorkerStats } from '../../src/hooks/types';
import type { Logger } from '../../src/shared/log';

const log = { warn: () => {}, info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
const view = {} as ArbiterView;
const unborn = { id: 1 } as WorkerStats;

/** Resolves what `hook` awaits when the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function queueOf(hooks: Hooks, stopping = () => false) {
  const inLoop: Array<() => void> = [];
  const runner = new HookRunner([{ name: 'test', hooks }], 10_000, log);
  const queue = new HookQueue(runner, { moot: stopping, inLoop: (then) => inLoop.push(then) });
  return { queue, inLoop };
}

describe('the arbiter hook queue', () => {
  it('runs a hook that finishes at once before returning, and calls `after` at once', () => {
    const ran: string[] = [];
    const { queue, inLoop } = queueOf({ preFork: () => void ran.push('preFork') });
    let outcome: unknown = 'not called';
    queue.after('preFork', [view, unborn], (err) => (outcome = err));
    expect(ran).toEqual(['preFork']);
    expect(outcome).toBeUndefined();
    expect(inLoop).toEqual([]);
  });

  it('runs hooks one at a time in the order asked, and hands a later outcome to the loop', async () => {
    const ran: string[] = [];
    const slow = gate();
    const { queue, inLoop } = queueOf({
      whenReady: async () => {
        ran.push('whenReady begins');
        await slow.opened;
        ran.push('whenReady ends');
      },
      preFork: () => void ran.push('preFork'),
    });
    void queue.queue('whenReady', [view]);
    let outcome: unknown = 'not called';
    queue.after('preFork', [view, unborn], (err) => (outcome = err));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['whenReady begins']);
    slow.open();
    await queue.drained();
    expect(ran).toEqual(['whenReady begins', 'whenReady ends', 'preFork']);
    // Not called from the hook's promise: the loop runs it as an event.
    expect(outcome).toBe('not called');
    expect(inLoop).toHaveLength(1);
    inLoop[0]!();
    expect(outcome).toBeUndefined();
  });

  it('gives the failure of a hook whose failure stops something, and skips one whose turn comes once moot', async () => {
    const ran: string[] = [];
    const slow = gate();
    let stopping = false;
    const { queue, inLoop } = queueOf(
      {
        whenReady: () => slow.opened,
        preFork: () => {
          ran.push('preFork');
          throw new Error('no more workers today');
        },
      },
      () => stopping,
    );
    let refused: Error | undefined;
    queue.after('preFork', [view, unborn], (err) => (refused = err));
    expect(refused?.message).toMatch(/no more workers today/);
    void queue.queue('whenReady', [view]);
    queue.after('preFork', [view, unborn], () => {});
    stopping = true;
    slow.open();
    await queue.drained();
    expect(ran).toEqual(['preFork']);
    expect(inLoop).toHaveLength(1);
  });
});
