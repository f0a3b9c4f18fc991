/**
 * The arbiter's relay of handed-back connections (arbiter/relay.ts), with fake workers: who hears
 * that connections are held, who gets one, and what a stopping worker is told.
 */
import { ConnectionRelay, type RelayWorkers } from '../../src/arbiter/relay';
import type { ConnectionHandle } from '../../src/ipc';

const connection = (name: string): ConnectionHandle & { name: string } => ({ name, close: () => {} });

function fakeWorkers(ids: number[], asyncIds: number[] = []) {
  const serving = new Set(ids);
  const servingAsync = new Set(asyncIds);
  const passed: Array<[number, string]> = [];
  const noConnection: number[] = [];
  const told: number[] = [];
  let stopping = false;
  const workers: RelayWorkers = {
    servingSync: () => [...serving],
    isServingSync: (id) => serving.has(id),
    servingAsync: () => [...servingAsync],
    stopping: () => stopping,
    pass: (id, handle) => {
      passed.push([id, (handle as ReturnType<typeof connection>).name]);
      return true;
    },
    noConnection: (id) => noConnection.push(id),
    tellHolding: (id) => told.push(id),
  };
  return { workers, serving, servingAsync, passed, noConnection, told, stop: () => (stopping = true) };
}

describe('ConnectionRelay', () => {
  it('holds what a busy worker hands back, and tells the other workers once, as holding begins', () => {
    const fake = fakeWorkers([1, 2, 3]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b', 'c']) relay.handedBack(1, connection(name));
    expect(fake.passed).toEqual([]);
    expect(fake.told).toEqual([2, 3]);
    expect(relay.holding).toBe(3);
  });

  it('gives a held connection, oldest first, only to a worker that says it is free', () => {
    const fake = fakeWorkers([1, 2]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b']) relay.handedBack(1, connection(name));
    relay.free(2, false);
    relay.free(1, false);
    expect(fake.passed).toEqual([
      [2, 'a'],
      [1, 'b'],
    ]);
    // Nothing left: the answer says so.
    relay.free(2, false);
    expect(fake.noConnection).toEqual([2]);
    // Holding begins again: told again.
    relay.handedBack(2, connection('c'));
    expect(fake.told).toEqual([2, 1]);
  });

  it('tells a worker that becomes ready while connections are held', () => {
    const fake = fakeWorkers([1]);
    const relay = new ConnectionRelay(fake.workers);
    relay.ready(1);
    relay.handedBack(1, connection('a'));
    expect(fake.told).toEqual([]);
    fake.serving.add(2);
    relay.ready(2);
    expect(fake.told).toEqual([2]);
  });

  it('tells a stopping worker it has nothing for it, unless the server is shutting down', () => {
    const fake = fakeWorkers([]);
    const relay = new ConnectionRelay(fake.workers);
    relay.handedBack(1, connection('a'));
    relay.free(1, true);
    expect(fake.passed).toEqual([]);
    expect(fake.noConnection).toEqual([1]);
    fake.stop();
    relay.free(1, true);
    expect(fake.passed).toEqual([[1, 'a']]);
  });

  it('gives nothing to a worker that no longer serves (being replaced) when it says it is free', () => {
    const fake = fakeWorkers([1, 2]);
    const relay = new ConnectionRelay(fake.workers);
    relay.handedBack(1, connection('a'));
    fake.serving.delete(2);
    relay.free(2, false);
    expect(fake.passed).toEqual([]);
    expect(fake.noConnection).toEqual([2]);
    expect(relay.holding).toBe(1);
  });

  it('passes what is handed back to async workers at once, in turn, never to the one that gave it back', () => {
    const fake = fakeWorkers([], [7, 8]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b', 'c']) relay.handedBack(1, connection(name));
    relay.handedBack(8, connection('d'));
    expect(fake.passed).toEqual([
      [7, 'a'],
      [8, 'b'],
      [7, 'c'],
      [7, 'd'],
    ]);
    expect(fake.told).toEqual([]);
    expect(relay.holding).toBe(0);
  });

  it('holds what sync workers hand back during a reload to async, until an async worker is ready', () => {
    const fake = fakeWorkers([1]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b']) relay.handedBack(1, connection(name));
    // The old sync worker is being replaced: it serves nothing more, and is not told.
    fake.serving.delete(1);
    relay.free(1, true);
    expect(fake.noConnection).toEqual([1]);
    fake.servingAsync.add(5);
    relay.ready(5);
    expect(fake.passed).toEqual([
      [5, 'a'],
      [5, 'b'],
    ]);
    expect(fake.told).toEqual([]);
    expect(relay.holding).toBe(0);
  });

  it('tells no async worker that connections are held', () => {
    const fake = fakeWorkers([1]);
    const relay = new ConnectionRelay(fake.workers);
    relay.handedBack(1, connection('a'));
    // Ready, but not serving yet as the arbiter sees it (or gone meanwhile): nothing is sent.
    relay.ready(6);
    expect(fake.told).toEqual([]);
    expect(fake.passed).toEqual([]);
    expect(relay.holding).toBe(1);
  });
});
