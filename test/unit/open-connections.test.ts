/**
 * The worker's list of open connections: what the drain walks and what the heartbeat and
 * --worker-connections count. Removing from the middle moves the last one into the gap, so the
 * places it keeps must stay right through any order of closes.
 */
import { Socket } from 'node:net';
import { OpenConnections } from '../../src/worker/open-connections';

describe('OpenConnections', () => {
  const sockets = () => Array.from({ length: 5 }, () => new Socket());

  it('counts what is added once, and forgets what is removed, in any order', () => {
    const open = new OpenConnections();
    const [a, b, c, d, e] = sockets() as [Socket, Socket, Socket, Socket, Socket];
    for (const socket of [a, b, c, d, e, c]) open.add(socket);
    expect(open.size).toBe(5);
    open.delete(b);
    open.delete(b);
    open.delete(a);
    expect(open.size).toBe(3);
    expect(new Set(open)).toEqual(new Set([c, d, e]));
    open.delete(e);
    open.delete(c);
    expect([...open]).toEqual([d]);
    open.add(b);
    open.delete(d);
    expect([...open]).toEqual([b]);
    open.delete(b);
    expect(open.size).toBe(0);
    expect([...open]).toEqual([]);
  });

  it('can be walked while the walk removes what it visits', () => {
    const open = new OpenConnections();
    const all = sockets();
    for (const socket of all) open.add(socket);
    const visited: Socket[] = [];
    for (const socket of open) {
      visited.push(socket);
      open.delete(socket);
    }
    expect(new Set(visited)).toEqual(new Set(all));
    expect(open.size).toBe(0);
  });
});
