/**
 * Signals and `ctl` requests as one action type, performed in one place: the mappings, and the
 * performer's decisions against a fake arbiter (no fork).
 */
import { type Action, actionOfRequest, ignoredSignal, SIGNAL_ACTIONS, scaledCount } from '../../src/arbiter/actions';
import { type ActionHost, ActionPerformer, type Stop } from '../../src/arbiter/perform';
import type { ArbiterSignal } from '../../src/arbiter/signals';
import { StatsRequests } from '../../src/arbiter/stats';
import { WorkerTable } from '../../src/arbiter/worker-table';
import type { WorkerBounds } from '../../src/config/worker-count';
import type { ControlReply, ControlRequest } from '../../src/control/protocol';
import { PendingReplies, type Reply } from '../../src/control/server';
import type { Logger } from '../../src/shared/log';

describe('what signals and requests ask for', () => {
  it('maps each signal and its command to the same action', () => {
    const pairs: Array<[ArbiterSignal, ControlRequest]> = [
      ['SIGTERM', { command: 'shutdown', quick: false }],
      ['SIGQUIT', { command: 'shutdown', quick: true }],
      ['SIGHUP', { command: 'reload' }],
      ['SIGTTIN', { command: 'add', count: 1 }],
      ['SIGTTOU', { command: 'remove', count: 1 }],
      ['SIGUSR1', { command: 'reopen-logs' }],
    ];
    for (const [signal, request] of pairs) expect(SIGNAL_ACTIONS[signal]).toEqual(actionOfRequest(request));
    expect(SIGNAL_ACTIONS.SIGINT).toEqual(SIGNAL_ACTIONS.SIGQUIT);
    expect(actionOfRequest({ command: 'scale', count: 3 })).toEqual({ kind: 'scale', to: 3 });
    expect(actionOfRequest({ command: 'kill', pid: 42 })).toEqual({ kind: 'replace', pid: 42 });
  });

  it('ignores WINCH only from a terminal', () => {
    expect(ignoredSignal('SIGWINCH', true)).toMatch(/^Ignoring WINCH: unicorn is attached to a terminal/);
    expect(ignoredSignal('SIGWINCH', false)).toBeUndefined();
    expect(ignoredSignal('SIGTTOU', true)).toBeUndefined();
  });

  it('never scales below one worker, saying what would be accepted', () => {
    expect(scaledCount({ kind: 'scale', by: -1 }, 2)).toEqual({ count: 1 });
    expect(scaledCount({ kind: 'scale', by: -1 }, 1)).toEqual({
      refused: 'remove 1 is not accepted: the server runs 1 worker, and never goes below one',
    });
    expect(scaledCount({ kind: 'scale', by: -3 }, 3)).toEqual({
      refused: 'remove 3 is not accepted: the server runs 3 workers and keeps at least one; expected at most 2',
    });
    expect(scaledCount({ kind: 'scale', to: 0 }, 3)).toEqual({
      refused: 'scale 0 is not accepted: the server never goes below one worker; expected at least 1',
    });
    expect(scaledCount({ kind: 'scale', by: 1 }, 0)).toEqual({ count: 1 });
  });
});

/** An arbiter with no workers, recording what it is asked to do. */
function fakeArbiter(target: number, bounds: WorkerBounds = { min: target, max: target, by: 'count' }) {
  const logged: string[] = [];
  const log = { info: (...args: unknown[]) => logged.push(String(args.at(-1))), error: () => {} } as unknown as Logger;
  const state = { stop: undefined as Stop | undefined, target, stopping: [] as boolean[], reloads: 0 };
  const host: ActionHost = {
    log,
    pending: new PendingReplies(),
    holdsConnections: () => false,
    statsRequests: new StatsRequests(),
    now: () => 1000,
    gracefulTimeout: () => 30_000,
    stop: () => state.stop,
    setStop: (stop) => (state.stop = stop),
    closeListeners: () => false,
    workers: new WorkerTable(),
    target: () => state.target,
    workerBounds: () => bounds,
    setTarget: (count) => (state.target = count),
    settled: () => true,
    send: () => {},
    handOver: () => {},
    retire: () => {},
    stopWorker: () => {},
    beginReload: () => void state.reloads++,
    reloadsBegun: () => state.reloads,
    afterPreExec: () => {},
    startSuccessor: () => {},
    prepareLogFiles: () => {},
    announceStopping: (graceful) => void state.stopping.push(graceful),
    stats: () => ({}) as never,
  };
  return { performer: new ActionPerformer(host), state, logged };
}

function reply(): Reply & { sent: ControlReply[] } {
  const sent: ControlReply[] = [];
  return { sent, send: (r) => void sent.push(r) };
}

describe('performing an action', () => {
  it.each([
    ['a second TERM', (p: ActionPerformer) => p.onSignal('SIGTERM')],
    ['a second ctl shutdown', (p: ActionPerformer) => p.onRequest({ command: 'shutdown', quick: false }, reply())],
  ])('%s makes a graceful stop quick; onStopping is called once, as it begins', (_, second) => {
    const { performer, state } = fakeArbiter(2);
    performer.onSignal('SIGTERM');
    expect(state.stop).toEqual({ graceful: true, deadline: 31_000, exitCode: 0 });
    second(performer);
    expect(state.stop).toEqual({ graceful: false, deadline: 2000, exitCode: 0 });
    expect(state.stopping).toEqual([true]);
  });

  it('answers a shutdown with how the server stops', () => {
    const { performer } = fakeArbiter(2);
    const [first, second] = [reply(), reply()];
    performer.onRequest({ command: 'shutdown', quick: false }, first);
    performer.onRequest({ command: 'shutdown', quick: false }, second);
    expect(first.sent).toEqual([{ ok: true, message: `Shutting down gracefully (pid ${process.pid})`, untilExit: true }]);
    expect(second.sent).toEqual([{ ok: true, message: `Shutting down quickly (pid ${process.pid})`, untilExit: true }]);
  });

  it('refuses TTOU and remove at the floor in the same words, logged either way, and the reply gets them', () => {
    const { performer, state, logged } = fakeArbiter(1);
    performer.onSignal('SIGTTOU');
    const answer = reply();
    performer.onRequest({ command: 'remove', count: 1 }, answer);
    const refusal = 'remove 1 is not accepted: the server runs 1 worker, and never goes below one';
    expect(logged.filter((line) => line === refusal)).toHaveLength(2);
    expect(answer.sent).toEqual([{ ok: false, error: refusal }]);
    expect(state.target).toBe(1);
  });

  it('keeps TTIN, TTOU and ctl scale within --workers MIN:MAX, and says so', () => {
    const { performer, state, logged } = fakeArbiter(2, { min: 2, max: 3, by: 'load' });
    const answer = reply();
    performer.onRequest({ command: 'scale', count: 5 }, answer);
    expect(state.target).toBe(3);
    expect(answer.sent).toEqual([{ ok: true, message: '3 workers ready (was 2); 5 is outside --workers 2:3, so 3' }]);
    expect(logged).toContain('scale 5: 5 is outside --workers 2:3, so 3');
    performer.onSignal('SIGTTOU');
    performer.onSignal('SIGTTOU');
    expect(state.target).toBe(2);
    expect(logged.at(-1)).toBe('remove 1: 1 is outside --workers 2:3, so 2');
  });

  it('refuses all but a stop and the stats while stopping, by either route, in the same words', () => {
    const { performer, state, logged } = fakeArbiter(2);
    performer.perform({ kind: 'stop', graceful: true });
    const actions: Action[] = [{ kind: 'reload' }, { kind: 'scale', by: 1 }, { kind: 'upgrade' }];
    for (const action of actions) performer.perform(action);
    const answer = reply();
    performer.onRequest({ command: 'reload' }, answer);
    expect(state.reloads).toBe(0);
    expect(state.target).toBe(2);
    expect(logged.filter((l) => l.startsWith('the server is shutting down'))).toEqual([
      'the server is shutting down; reload is not done',
      'the server is shutting down; add 1 is not done',
      'the server is shutting down; re-exec (USR2) is not done',
      'the server is shutting down; reload is not done',
    ]);
    expect(answer.sent).toEqual([{ ok: false, error: 'the server is shutting down; reload is not done' }]);
  });
});
