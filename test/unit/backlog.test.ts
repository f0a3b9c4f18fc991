import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acceptQueue, readListenQueues } from '../../src/arbiter/elastic/backlog';
import { bindAll, closeAll, type Listener } from '../../src/arbiter/listeners';

// As the kernel writes them, listening sockets first: a listener with 3 waiting (inode 5001), another
// listener (5002), a listener that is not ours (5004), and a connection whose rx_queue is data, not
// connections (5003).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 5001 1 0000000019c9b02d 100 0 0 10 0
   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5002 1 0000000019c9b02e 100 0 0 10 0
   2: 00000000:0016 00000000:0000 0A 00000000:00000007 00:00000000 00000000     0        0 5004 1 0000000019c9b02f 100 0 0 10 0
   3: 0100007F:1F90 0100007F:B84E 01 00000000:0000000A 00:00000000 00000000  1000        0 5003 3 00000000ef198fcb 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:0000001F 00:00000000 00000000  1000        0 6001 1 00000000a1b2c3d4 100 0 0 10 0
`;

describe('the accept queues in /proc/net/tcp and tcp6', () => {
  it('are read for our listening sockets only: not connections, not other listeners', () => {
    const queues = new Map<string, number>();
    readListenQueues(TCP, new Set(['5001', '5002', '5003', '6001']), queues);
    readListenQueues(TCP6, new Set(['5001', '5002', '5003', '6001']), queues);
    expect(Object.fromEntries(queues)).toEqual({ '5001': 3, '5002': 0, '6001': 31 });
  });

  it('are unknown elsewhere than Linux, and without a TCP listener', () => {
    expect(acceptQueue([], 'linux')).toBeUndefined();
    expect(acceptQueue([{ address: { kind: 'tcp', host: '127.0.0.1', port: 1 }, url: '', handle: { fd: 0, close() {} } }], 'darwin')).toBe(
      undefined,
    );
  });
});

(process.platform === 'linux' ? describe : describe.skip)('acceptQueue, on real sockets', () => {
  let listeners: Listener[] = [];
  const clients: net.Socket[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
    closeAll(listeners);
  });

  /** Open `n` connections to `port` (on `host`), each resolved once the kernel has completed it. */
  const connect = (host: string, port: number, n: number) =>
    Promise.all(
      Array.from({ length: n }, () => {
        const client = net.connect({ host, port });
        clients.push(client);
        return new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
      }),
    );
  const portOf = (listener: Listener) => Number(new URL(listener.url).port);

  it('counts the connections nobody has accepted, over IPv4 and IPv6 listeners, and none on a unix one', async () => {
    const socketFile = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-')), 'app.sock');
    listeners = await bindAll(
      [
        { kind: 'tcp', host: '127.0.0.1', port: 0 },
        { kind: 'tcp', host: '::1', port: 0 },
        { kind: 'unix', path: socketFile },
      ],
      64,
    );
    expect(acceptQueue(listeners)).toBe(0);
    await connect('127.0.0.1', portOf(listeners[0]!), 5);
    await connect('::1', portOf(listeners[1]!), 3);
    expect(acceptQueue(listeners)).toBe(8);
    expect(acceptQueue(listeners.slice(1))).toBe(3);
    // The unix listener's waiting connection is not counted, and alone it is nothing measured.
    await new Promise<void>((resolve, reject) => {
      const client = net.connect(socketFile).once('connect', resolve).once('error', reject);
      clients.push(client);
    });
    expect(acceptQueue(listeners)).toBe(8);
    expect(acceptQueue(listeners.slice(2))).toBeUndefined();
  });
});
