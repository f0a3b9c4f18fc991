/**
 * Keep-alive connections spread over `async` workers (issue 10): clients that keep their connections
 * for good must not stay piled onto one worker after a start, a reload or a recycle. The load's
 * clients never reconnect on their own; only the server closing a connection moves one.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServerStats } from '../../src/hooks/types';
import { ctl, ctlStats } from '../helpers/ctl';
import { Load } from '../helpers/load';
import { APPS, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const CLIENTS = 8;
/** The least share of the requests each of two workers must serve once balanced. */
const FAIR_ENOUGH = 0.25;
/** How long the spread may take to come right after each event: a bound for hangs only. */
const BALANCE_WITHIN_MS = 20_000;
const WINDOW_MS = 1500;

/** `unicorn ctl --socket SOCKET ARGS`, which must succeed. */
async function ctlOn(socket: string, ...args: string[]): Promise<void> {
  const run = await ctl(['--socket', socket, ...args]);
  if (run.code !== 0) throw new Error(`unicorn ctl ${args.join(' ')} exited with ${run.code}: ${run.stderr}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each ready worker's share of the requests served over WINDOW_MS, by worker id; undefined while
 *  workers other than ready ones are about (a reload or a recycle not over yet). */
async function sharesOverWindow(socket: string): Promise<Map<number, number> | undefined> {
  const before = await ctlStats(socket);
  await sleep(WINDOW_MS);
  const after = await ctlStats(socket);
  const settled = (s: ServerStats) => s.workers.length === 2 && s.workers.every((w) => w.state === 'ready');
  if (!settled(before) || !settled(after)) return undefined;
  const served = new Map(after.workers.map((w) => [w.id, w.requests - (before.workers.find((b) => b.id === w.id)?.requests ?? NaN)]));
  const total = [...served.values()].reduce((a, b) => a + b, 0);
  if (!(total > 0)) return undefined;
  return new Map([...served].map(([id, n]) => [id, n / total]));
}

/** Wait until each of the two workers serves at least FAIR_ENOUGH of the requests over a window. */
async function expectSpread(socket: string, after: string): Promise<void> {
  const deadline = Date.now() + BALANCE_WITHIN_MS;
  let last: Map<number, number> | undefined;
  while (Date.now() < deadline) {
    const shares = await sharesOverWindow(socket);
    if (shares) last = shares;
    if (shares && [...shares.values()].every((share) => share >= FAIR_ENOUGH)) return;
  }
  const seen = last ? [...last].map(([id, share]) => `worker ${id} ${Math.round(share * 100)}%`).join(', ') : 'no settled window';
  throw new Error(`${after}: the requests were not spread over both workers within ${BALANCE_WITHIN_MS / 1000} s (last window: ${seen})`);
}

describe('keep-alive connections spread over async workers', () => {
  it('each worker serves its share after a start, a reload and a recycle, with no request failed', async () => {
    const socket = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-spread-')), 'ctl.sock');
    const unicorn: Unicorn = start(['-b', '127.0.0.1:0', '-w', '2', '-k', 'async', '--control-socket', socket, ROUTES]);
    // The clients connect before any worker is ready: they wait in the backlog for the first one.
    await unicorn.waitForLog((line) => line.msg.startsWith('Listening at: '), 'the listener');
    const load = await Load.start(`${unicorn.url()}/`, { keepAlive: true, concurrency: CLIENTS });
    await unicorn.ready(2);
    await load.flowing();
    await expectSpread(socket, 'after the start');
    const balanced = await ctlStats(socket);
    expect(balanced.workers.map((w) => w.connections).reduce((a, b) => a + b, 0)).toBe(CLIENTS);
    expect(balanced.spread.connections).toBeLessThanOrEqual(0.75);

    await ctlOn(socket, 'reload');
    await expectSpread(socket, 'after a reload');

    // The path --max-requests takes: the worker serves until its replacement is ready, then hands over.
    const [first] = (await ctlStats(socket)).workers;
    await ctlOn(socket, 'kill', String(first!.pid));
    await expectSpread(socket, 'after a recycle');

    const counts = await load.stop();
    expect(counts).toMatchObject({ failed: 0, refused: 0 });
    expect(counts.ok).toBeGreaterThan(1000);
  }, 90_000);
});
