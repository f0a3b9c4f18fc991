import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request, sequential } from '../helpers/http';
import { freePort } from '../helpers/ports';
import { APPS, serve, start } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const tmpSocket = (name: string) => path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-')), name);

describe('serving', () => {
  it('serves HTTP on an ephemeral TCP port and logs what it does', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const reply = await request(unicorn.url());
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^hello \d+\n$/);
    const messages = unicorn.logs.map((l) => l.msg);
    expect(messages[0]).toMatch(/^Starting unicorn \d+\.\d+\.\d+/);
    expect(messages).toContain(`Listening at: ${unicorn.url()} (${unicorn.pid})`);
    expect(messages).toContain('Using worker: sync');
    expect(unicorn.lines('Booting worker with pid: ')).toHaveLength(2);
  });

  it('runs exactly --workers worker processes', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 3 });
    const booted = unicorn.lines('Booting worker with pid: ').map((l) => l.workerPid);
    expect(new Set(booted).size).toBe(3);
    expect(unicorn.workerPids().sort()).toEqual([...booted].sort());
  });

  it('serves on a unix socket and removes the socket file at exit', async () => {
    const socketPath = tmpSocket('app.sock');
    const unicorn = start(['-b', `unix:${socketPath}`, ROUTES]);
    await unicorn.ready(1);
    expect(unicorn.addresses()).toEqual([`unix:${socketPath}`]);
    // Created with the umask unicorn inherited (this process's).
    const umask = parseInt(/^Umask:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!, 8);
    expect(statSync(socketPath).mode & 0o777).toBe(0o777 & ~umask);
    const reply = await request('http://localhost/', { socketPath });
    expect(reply.body).toMatch(/^hello/);
    unicorn.signal('SIGTERM');
    expect(await unicorn.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(socketPath)).toBe(false);
  });

  it('listens at two addresses at once', async () => {
    const socketPath = tmpSocket('two.sock');
    const unicorn = await serve(ROUTES, ['-b', `unix:${socketPath}`], { workers: 2 });
    expect(unicorn.addresses()).toHaveLength(2);
    const [tcp, unix] = await Promise.all([request(unicorn.url()), request('http://localhost/', { socketPath })]);
    expect(tcp.status).toBe(200);
    expect(unix.status).toBe(200);
  });

  it('listens on IPv6 loopback', async () => {
    const unicorn = start(['-b', '[::1]:0', ROUTES]);
    await unicorn.ready(1);
    const [address] = unicorn.addresses();
    expect(address).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await request(`${address}/`)).status).toBe(200);
  });

  it('listens at an inherited file descriptor with fd://N', async () => {
    const socket = net.createServer();
    await new Promise<void>((resolve) => socket.listen(0, '127.0.0.1', resolve));
    const { port } = socket.address() as net.AddressInfo;
    // The listening socket becomes the child's fd 3; this process lets go of its own copy at once.
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    const unicorn = start(['-b', 'fd://3', ROUTES], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    socket.close();
    await unicorn.ready(1);
    expect((await request(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });

  it('binds 0.0.0.0:$PORT when PORT is set and takes the worker count from WEB_CONCURRENCY', async () => {
    const port = await freePort();
    const unicorn = start([ROUTES], { env: { PORT: String(port), WEB_CONCURRENCY: '3' } });
    await unicorn.ready(3);
    expect(unicorn.addresses()).toEqual([`http://0.0.0.0:${port}`]);
    expect(unicorn.workerPids()).toHaveLength(3);
    expect((await request(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });

  it('keeps clients waiting in the backlog, not refused, while no worker is up', async () => {
    const unicorn = await serve(ROUTES);
    const [worker] = unicorn.workerPids();
    process.kill(worker!, 'SIGKILL');
    // Sent while the only worker is dead: queued by the kernel, served by the replacement.
    const replies = await Promise.all(Array.from({ length: 5 }, () => request(unicorn.url())));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(replies.every((r) => !r.body.includes(String(worker)))).toBe(true);
  });

  it('replaces a worker killed with SIGKILL and fails no request after it', async () => {
    const unicorn = await serve(ROUTES, [], { workers: 2 });
    const before = unicorn.workerPids();
    process.kill(before[0]!, 'SIGKILL');
    const during = await sequential(unicorn.url(), 30);
    await unicorn.waitForLog((l) => l.msg === `Worker (pid:${before[0]}) was killed by signal SIGKILL`, 'the exit log line');
    await unicorn.ready(3);
    const after = await sequential(unicorn.url(), 30);
    expect([...during, ...after].every((r) => r.status === 200)).toBe(true);
    const now = unicorn.workerPids();
    expect(now).toHaveLength(2);
    expect(now).not.toContain(before[0]);
    expect(now).toContain(before[1]);
  });
});
