import path from 'node:path';
import { request } from '../helpers/http';
import { Load } from '../helpers/load';
import { APPS, isAlive, serve, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stop the arbiter (a container freeze, a VM pause) for `ms`, then let it run again. */
async function pauseArbiter(unicorn: Unicorn, ms: number): Promise<void> {
  unicorn.signal('SIGSTOP');
  await sleep(ms);
  unicorn.signal('SIGCONT');
}

describe('an arbiter paused for longer than --timeout', () => {
  it('kills no healthy worker when it resumes, and no request fails under load', async () => {
    const unicorn = await serve(ROUTES, ['-k', 'async', '-t', '2s'], { workers: 2 });
    const workers = unicorn.workerPids().sort();
    const load = await Load.start(unicorn.url(), { keepAlive: true });
    await load.flowing();
    await pauseArbiter(unicorn, 5000);
    // Nothing is to happen, so there is no event to await: wait past a --timeout after the resume,
    // where a wrong judgement (at once, or a timeout later) would have shown.
    await sleep(3000);
    await load.flowing();
    const counts = await load.stop();
    expect(unicorn.lines('WORKER TIMEOUT')).toEqual([]);
    expect(unicorn.workerPids().sort()).toEqual(workers);
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
  });

  it('still kills a worker stuck in a loop, and only that one, after it resumes', async () => {
    const unicorn = await serve(ROUTES, ['-t', '2s'], { workers: 2 });
    const workers = unicorn.workerPids();
    const stuck = request(`${unicorn.url()}/spin`).catch((err: Error) => ({ error: err.message }));
    await unicorn.waitForOutput('spin started');
    const spinning = Number(/spin started (\d+)/.exec(unicorn.stdout)![1]);
    await pauseArbiter(unicorn, 4000);
    const resumed = Date.now();
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('WORKER TIMEOUT (pid:'), 'WORKER TIMEOUT', 10_000);
    expect(line.workerPid).toBe(spinning);
    await unicorn.waitForLog((l) => l.workerPid === spinning && l.signal === 'SIGKILL', 'the stuck worker killed');
    // Within --timeout + 2 s of the resume, with room for the way in on a loaded machine.
    expect(Date.now() - resumed).toBeLessThan(2000 + 2000 + 1500);
    expect(await stuck).toHaveProperty('error');
    const healthy = workers.find((pid) => pid !== spinning)!;
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(1);
    expect(isAlive(healthy)).toBe(true);
    await unicorn.ready(3);
    expect(unicorn.lines('WORKER TIMEOUT')).toHaveLength(1);
    expect(isAlive(healthy)).toBe(true);
  });
});
