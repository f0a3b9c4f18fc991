/**
 * The arbiter's relay of handed-back connections (arbiter/relay.ts), with fake workers: who gets a
 * connection, when one is held, and what a stopping worker is told.
 */
import { ConnectionRelay, type ConnectionHandle, type RelayWorkers } from '../../src/arbiter/relay';

const connection = (name: string): ConnectionHandle & { name: string } => ({ name, close: () => {} });

function fakeWorkers(ids: number[]) {
  const serving = new Set(ids);
  const passed: Array<[number, string]> = [];
  const noConnection: number[] = [];
  let stopping = false;
  const workers: RelayWorkers = {
    serving: () => [...serving],
    isServing: (id) => serving.has(id),
    stopping: () => stopping,
    pass: (id, handle) => {
      if (!serving.has(id) && !stopping) return false;
      passed.push([id, (handle as ReturnType<typeof connection>).name]);
      return true;
    },
    noConnection: (id) => noConnection.push(id),
  };
  return { workers, serving, passed, noConnection, stop: () => (stopping = true) };
}

describe('ConnectionRelay', () => {
  it('passes what a busy worker hands back to the other workers, one each, and holds the rest', () => {
    const fake = fakeWorkers([1, 2, 3]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b', 'c']) relay.handedBack(1, connection(name));
    expect(fake.passed).toEqual([
      [2, 'a'],
      [3, 'b'],
    ]);
    expect(relay.holding).toBe(1);
  });

  it('gives a held connection, oldest first, to the worker that says it is free, and none to those that said nothing since', () => {
    const fake = fakeWorkers([1, 2]);
    const relay = new ConnectionRelay(fake.workers);
    for (const name of ['a', 'b', 'c']) relay.handedBack(1, connection(name));
    expect(fake.passed).toEqual([[2, 'a']]);
    relay.free(1, false);
    expect(fake.passed).toEqual([
      [2, 'a'],
      [1, 'b'],
    ]);
    relay.free(2, false);
    relay.free(1, false);
    expect(fake.passed.at(-1)).toEqual([2, 'c']);
    // Nothing left: the answer says so, and the worker is taken to be free again.
    expect(fake.noConnection).toEqual([1]);
    relay.handedBack(2, connection('d'));
    expect(fake.passed.at(-1)).toEqual([1, 'd']);
  });

  it('holds until a worker is ready when none serves', () => {
    const fake = fakeWorkers([1]);
    const relay = new ConnectionRelay(fake.workers);
    relay.handedBack(1, connection('a'));
    expect(fake.passed).toEqual([]);
    fake.serving.add(2);
    relay.offer();
    expect(fake.passed).toEqual([[2, 'a']]);
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

  it('forgets a worker that has gone: a new one with nothing said is passed connections', () => {
    const fake = fakeWorkers([1, 2]);
    const relay = new ConnectionRelay(fake.workers);
    relay.handedBack(2, connection('a'));
    expect(fake.passed).toEqual([[1, 'a']]);
    fake.serving.delete(1);
    relay.gone(1);
    relay.handedBack(2, connection('b'));
    expect(relay.holding).toBe(1);
    fake.serving.add(3);
    relay.offer();
    expect(fake.passed.at(-1)).toEqual([3, 'b']);
  });
});
