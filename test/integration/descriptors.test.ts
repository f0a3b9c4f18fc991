/**
 * Running out of file descriptors (workers crashed with EMFILE, resetting every
 * connection they held). unicorn is started under a low open-file limit (`ulimit -n`): a worker
 * caps --worker-connections to what the limit leaves, backs off accepting while its descriptors run
 * out, and nothing it does on a timer throws for lack of one.
 */
import path from 'node:path';
import { OWN_DESCRIPTORS } from '../../src/shared/descriptors';
import { request } from '../helpers/http';
import { connect } from '../helpers/raw';
import { APPS, serve, type Unicorn } from '../helpers/unicorn';

const APP = path.join(APPS, 'descriptors.js');
const LIMIT = 256;
/** What a worker serves at most under LIMIT (src/shared/descriptors.ts). */
const CAP = LIMIT - OWN_DESCRIPTORS;

interface Outcome {
  /** Everything that came back. */
  reply: string;
  error?: string;
}

/** One client: a request with `Connection: close`, read to the end of the connection. */
function client(url: string, target: string): Promise<Outcome> {
  const socket = connect(url);
  return new Promise((resolve) => {
    const outcome: Outcome = { reply: '' };
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => (outcome.reply += chunk.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (outcome.error = err.code));
    socket.on('close', () => resolve(outcome));
  });
}

/** The clients not answered in full, counted by what they got. */
function failed(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    // /hold's body is chunked: its headers went out first.
    if (o.reply.startsWith('HTTP/1.1 200 ') && /\r\nheld \d+\n\r\n0\r\n\r\n$/.test(o.reply)) continue;
    const what = `${o.error ?? 'closed'} after ${o.reply === '' ? 'nothing' : o.reply.includes('held') ? 'the response' : 'the headers'}`;
    counts[what] = (counts[what] ?? 0) + 1;
  }
  return counts;
}

/** Ask the app to take every descriptor but `leave` for `ms`, and wait until it has. */
async function hoard(unicorn: Unicorn, worker: number, leave: number, ms: number): Promise<void> {
  const reply = await request(`${unicorn.url()}/hoard?leave=${leave}&ms=${ms}`);
  expect(reply.body).toBe(`hoarding ${worker}\n`);
  await unicorn.waitForOutput(`hoarding ${worker}\n`);
}

/** The worker is the one that started, and nothing was uncaught; a new client is answered. */
async function expectWorkerSurvived(unicorn: Unicorn, worker: number): Promise<void> {
  expect(unicorn.lines('Uncaught exception')).toEqual([]);
  expect(unicorn.workerPids()).toEqual([worker]);
  const reply = await request(unicorn.url());
  expect(reply.body).toBe(`hello ${worker}\n`);
}

describe('running out of file descriptors', () => {
  it(`an async worker under ulimit -n ${LIMIT} takes ${CAP} connections at most, as the arbiter warns once at start, and serves ${LIMIT + 44} held clients without a crash or a lost client`, async () => {
    // A beat a second: the worker beats while its descriptors are all in use.
    const unicorn = await serve(APP, ['-k', 'async', '-t', '2s'], { openFiles: LIMIT });
    const [worker] = unicorn.workerPids();
    const url = unicorn.url();
    const outcomes = await Promise.all(Array.from({ length: LIMIT + 44 }, () => client(url, '/hold?ms=2500')));
    expect(failed(outcomes)).toEqual({});
    // The worker held CAP connections at once, no more: the others waited for one to end.
    expect((await request(`${url}/most-held`)).body).toBe(`${CAP}\n`);
    await expectWorkerSurvived(unicorn, worker!);
    // Said once, by the arbiter, with the numbers.
    const warnings = unicorn.lines('--worker-connections');
    expect(warnings.map((w) => [w.role, w.level])).toEqual([['arbiter', 'warn']]);
    expect(warnings[0]!.msg).toContain(`--worker-connections 1000`);
    expect(warnings[0]!.msg).toContain(`open-file limit (ulimit -n) of ${LIMIT}`);
    expect(warnings[0]!.msg).toContain(`at most ${CAP} connections`);
  }, 60_000);

  it('a worker whose app has taken every descriptor goes on beating, and serves once they are given back', async () => {
    const unicorn = await serve(APP, ['-k', 'async', '-t', '2s'], { openFiles: LIMIT });
    const [worker] = unicorn.workerPids();
    await hoard(unicorn, worker!, 0, 2500);
    // Two beats or more at a beat a second, with no descriptor free.
    await unicorn.waitForOutput(`released ${worker}`);
    await expectWorkerSurvived(unicorn, worker!);
  }, 60_000);

  it('accept backs off while the app holds the descriptors, and takes the clients waiting in the backlog once some are free', async () => {
    const unicorn = await serve(APP, ['-k', 'async', '--worker-connections', '100'], { openFiles: LIMIT });
    const [worker] = unicorn.workerPids();
    const url = unicorn.url();
    // Under the cap: nothing to warn of at start.
    expect(unicorn.lines('--worker-connections')).toEqual([]);
    // The app leaves 10 descriptors free, the lowest numbers, for 2 s: the worker sees it within a second.
    await hoard(unicorn, worker!, 10, 2000);
    await unicorn.waitForLog((l) => l.msg.startsWith('Out of file descriptors'), 'the worker to stop accepting');
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => client(url, '/hold?ms=300')));
    expect(failed(outcomes)).toEqual({});
    await expectWorkerSurvived(unicorn, worker!);
    // One warning for the episode, and one line with its count when it is over.
    const over = await unicorn.waitForLog((l) => l.msg.startsWith('Accepting normally again'), 'the end of the episode');
    expect(over.pauses).toBeGreaterThan(0);
    expect(unicorn.lines('Out of file descriptors').map((w) => [w.role, w.level, w.limit])).toEqual([['worker', 'warn', LIMIT]]);
  }, 60_000);
});
