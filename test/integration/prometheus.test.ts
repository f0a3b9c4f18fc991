import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ctl, ctlStats } from '../helpers/ctl';
import { type Family, parseExposition, sampleValue } from '../helpers/exposition';
import { request, sequential } from '../helpers/http';
import { APPS, runToExit, start, type Unicorn, waitUntilGone } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Start with the plugin on a free port; --timeout 1s makes the workers beat every 0.5 s. */
async function serveWithMetrics(
  workers: number,
  bind = '127.0.0.1:0',
  env: NodeJS.ProcessEnv = {},
): Promise<{ unicorn: Unicorn; app: string; metrics: string }> {
  const args = ['-b', '127.0.0.1:0', '-w', String(workers), '--timeout', '1s', '--hook', 'prometheus', ROUTES];
  const unicorn = start(args, { env: { UNICORN_PROMETHEUS_BIND: bind, ...env } });
  const line = await unicorn.waitForLog((l) => l.msg.startsWith('Metrics at '), 'the metrics address');
  await unicorn.ready(workers);
  return { unicorn, app: unicorn.url(), metrics: line.address as string };
}

/** Scrape, checking the response and the exposition's syntax. */
async function scrape(url: string): Promise<Map<string, Family>> {
  const reply = await request(url);
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe(CONTENT_TYPE);
  const families = parseExposition(reply.body);
  // Every family has HELP and TYPE lines (TYPE before its samples is the parser's check).
  for (const family of families.values()) {
    expect(family.type).not.toBe('untyped');
    expect(family.help).toBeTruthy();
  }
  return families;
}

/**
 * Scrape until `done` holds: workers report with their heartbeats, so the arbiter's counts lag by up
 * to one interval. The bound only catches a hang; the last scrape is shown when it is reached.
 */
async function scrapeUntil(
  url: string,
  done: (families: Map<string, Family>) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<Map<string, Family>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const families = await scrape(url);
    if (done(families)) return families;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the last scrape:\n${(await request(url)).body}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const requests = (families: Map<string, Family>, statusClass: string) =>
  sampleValue(families, 'unicorn_http_requests_total', { status_class: statusClass });
const total = (families: Map<string, Family>) =>
  ['1xx', '2xx', '3xx', '4xx', '5xx'].reduce((sum, c) => sum + (requests(families, c) ?? 0), 0);
const perWorker = (families: Map<string, Family>, name: string) =>
  Object.fromEntries(families.get(name)!.samples.map((s) => [s.labels.worker, s.value]));

describe('the prometheus plugin', () => {
  it('serves every worker’s requests from the arbiter, and keeps counting those of workers that exit', async () => {
    const { unicorn, app, metrics } = await serveWithMetrics(2);
    // Statuses of every class but 1xx: 6 × 200, 1 × 301, 3 × 404, 2 × 500.
    await sequential(`${app}/`, 6);
    await request(`${app}/status?code=301`);
    await sequential(`${app}/status?code=404`, 3);
    await sequential(`${app}/throw`, 2);

    let families = await scrapeUntil(metrics, (f) => total(f) === 12, '12 requests counted');
    expect(Object.fromEntries(['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => [c, requests(families, c)]))).toEqual({
      '1xx': 0,
      '2xx': 6,
      '3xx': 1,
      '4xx': 3,
      '5xx': 2,
    });
    expect(families.get('unicorn_http_requests_total')!.type).toBe('counter');
    const histogram = families.get('unicorn_http_request_duration_seconds')!;
    expect(histogram.type).toBe('histogram');
    expect(sampleValue(families, 'unicorn_http_request_duration_seconds_count')).toBe(12);
    expect(sampleValue(families, 'unicorn_http_request_duration_seconds_bucket', { le: '+Inf' })).toBe(12);
    expect(sampleValue(families, 'unicorn_http_request_duration_seconds_sum')).toBeGreaterThan(0);
    expect(sampleValue(families, 'unicorn_http_request_duration_seconds_bucket', { le: '0.005' })).toBeDefined();
    expect(sampleValue(families, 'unicorn_http_requests_aborted_total')).toBe(0);
    expect(sampleValue(families, 'unicorn_http_requests_in_flight')).toBe(0);
    expect(sampleValue(families, 'unicorn_workers', { state: 'ready' })).toBe(2);
    expect(families.get('unicorn_workers')!.samples.reduce((sum, s) => sum + s.value, 0)).toBe(2);
    expect(sampleValue(families, 'unicorn_workers_target')).toBe(2);
    expect(families.get('unicorn_worker_exits_total')!.samples.every((s) => s.value === 0)).toBe(true);
    const ids = unicorn.lines('Booting worker').map((l) => String(l.workerId));
    expect(Object.keys(perWorker(families, 'unicorn_worker_heartbeat_age_seconds')).sort()).toEqual(ids.sort());
    for (const age of Object.values(perWorker(families, 'unicorn_worker_heartbeat_age_seconds'))) expect(age).toBeGreaterThanOrEqual(0);
    for (const rss of Object.values(perWorker(families, 'unicorn_worker_resident_memory_bytes'))) expect(rss).toBeGreaterThan(0);

    // Requests the worker about to go served since its last heartbeat reach the arbiter with the
    // beat it sends after draining; what it served before stays counted once it has exited.
    await sequential(`${app}/`, 4);
    unicorn.signal('SIGTTOU');
    families = await scrapeUntil(
      metrics,
      (f) => sampleValue(f, 'unicorn_worker_exits_total', { reason: 'scale-down' }) === 1 && total(f) === 16,
      'the scaled-down worker’s exit, and 16 requests',
    );
    expect(requests(families, '2xx')).toBe(10);
    expect(requests(families, '4xx')).toBe(3);
    expect(requests(families, '5xx')).toBe(2);
    expect(sampleValue(families, 'unicorn_http_request_duration_seconds_count')).toBe(16);
    expect(families.get('unicorn_worker_exits_total')!.samples.filter((s) => s.value > 0)).toHaveLength(1);
    expect(sampleValue(families, 'unicorn_workers', { state: 'ready' })).toBe(1);
    expect(sampleValue(families, 'unicorn_workers_target')).toBe(1);
    const [stopped] = unicorn.lines('Worker (pid:').filter((l) => l.msg.endsWith('exited with code 0'));
    expect(Object.keys(perWorker(families, 'unicorn_worker_heartbeat_age_seconds'))).toEqual(
      ids.filter((id) => id !== String(stopped!.workerId)),
    );

    // The remaining worker's requests add to them.
    await sequential(`${app}/throw`, 1);
    families = await scrapeUntil(metrics, (f) => total(f) === 17, '17 requests counted');
    expect(requests(families, '5xx')).toBe(3);
  });

  it('labels every series with vassal="NAME" in a vassal of an emperor (UNICORN_VASSAL), and with none otherwise', async () => {
    const { app, metrics } = await serveWithMetrics(1, '127.0.0.1:0', { UNICORN_VASSAL: 'site "a"' });
    await sequential(`${app}/`, 3);
    const families = await scrapeUntil(
      metrics,
      (f) => sampleValue(f, 'unicorn_http_requests_total', { status_class: '2xx', vassal: 'site "a"' }) === 3,
      '3 requests counted',
    );
    const samples = [...families.values()].flatMap((family) => family.samples);
    expect(samples.length).toBeGreaterThan(20);
    for (const sample of samples) expect(sample.labels.vassal).toBe('site "a"');
    // A label of its own comes first, and the escaping of the value is the exposition's.
    expect((await request(metrics)).body).toContain('unicorn_workers_target{vassal="site \\"a\\""} 1\n');

    const plain = await serveWithMetrics(1);
    const unlabelled = [...(await scrape(plain.metrics)).values()].flatMap((family) => family.samples);
    for (const sample of unlabelled) expect(sample.labels).not.toHaveProperty('vassal');
  });

  it('serves /metrics only', async () => {
    const { metrics } = await serveWithMetrics(1);
    const base = metrics.replace(/\/metrics$/, '');
    expect((await request(`${base}/`)).status).toBe(404);
    expect((await request(`${base}/metrics/x`)).status).toBe(404);
    const post = await request(metrics, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await request(metrics, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(CONTENT_TYPE);
    expect(head.body).toBe('');
  });

  it('refuses a bad option in a config file, naming the option, the value and what is accepted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-'));
    const config = path.join(dir, 'unicorn.config.mjs');
    writeFileSync(config, `export default { plugins: [['prometheus', { bind: 'nope' }]] };\n`);
    const { code, stderr } = await runToExit(['-c', config, '-b', '127.0.0.1:0', ROUTES]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `unicorn: error: the plugin "prometheus" (${config}: plugins[0]) failed to set up: option bind "nope" is not accepted: the port is missing; expected HOST:PORT or [IPv6]:PORT`,
    );
    expect(stderr).not.toContain('Listening at');
  });

  it('refuses to start when it cannot listen, naming the address', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const { code, stderr } = await runToExit(['-b', '127.0.0.1:0', '--hook', 'prometheus', ROUTES], {
        env: { UNICORN_PROMETHEUS_BIND: `127.0.0.1:${port}` },
      });
      expect(code).toBe(1);
      expect(stderr).toContain(
        `unicorn: error: hook onStarting of plugin "prometheus" failed: Error: cannot serve metrics at http://127.0.0.1:${port}/metrics (UNICORN_PROMETHEUS_BIND "127.0.0.1:${port}"): address already in use (EADDRINUSE)`,
      );
      expect(stderr).not.toContain('Listening at');
    } finally {
      taken.close();
    }
  });

  it('an arbiter started by USR2 takes the metrics address over once the one it replaces has exited', async () => {
    // A fixed port, as in production: the new arbiter finds it held by the old one.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const { unicorn, metrics } = await serveWithMetrics(1, `127.0.0.1:${port}`);

    unicorn.signal('SIGUSR2');
    const successor = (await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing'), 'the re-exec')).successorPid as number;
    const held = await unicorn.waitForLog(
      (l) => l.pid === successor && l.msg.startsWith('Metrics address'),
      'the new arbiter waiting for the address',
    );
    expect(held.msg).toBe(
      `Metrics address ${metrics} is held by the arbiter this one replaces (pid:${unicorn.pid}); serving metrics once it has exited`,
    );
    await unicorn.waitForLog((l) => l.pid === successor && /^Worker \(pid:\d+\) ready$/.test(l.msg), 'the new arbiter’s worker');
    // The old arbiter serves on meanwhile.
    expect(sampleValue(await scrape(metrics), 'unicorn_workers_target')).toBe(1);

    unicorn.signal('SIGTERM');
    await unicorn.exited;
    await unicorn.waitForLog((l) => l.pid === successor && l.msg === `Metrics at ${metrics}`, 'the new arbiter serving the metrics');
    const families = await scrape(metrics);
    expect(sampleValue(families, 'unicorn_workers', { state: 'ready' })).toBe(1);
    // The new arbiter's own view: it has seen no worker exit.
    expect(sampleValue(families, 'unicorn_worker_exits_total', { reason: 'shutdown' })).toBe(0);
    process.kill(successor, 'SIGTERM');
    expect(await waitUntilGone([successor])).toEqual([]);
  });
});

describe('the utilisation an autoscaler reads', () => {
  /** Start with the plugin and a control socket; --timeout 1s (unless `extra` sets another) makes the
   *  workers beat every 0.5 s. */
  async function serveWatched(app: string, workers: number, extra: string[] = []) {
    const socket = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-')), 'ctl.sock');
    const args = ['-b', '127.0.0.1:0', '-w', String(workers), '--timeout', '1s', ...extra];
    args.push('--control-socket', socket, '--hook', 'prometheus', app);
    const unicorn = start(args, { env: { UNICORN_PROMETHEUS_BIND: '127.0.0.1:0' } });
    const line = await unicorn.waitForLog((l) => l.msg.startsWith('Metrics at '), 'the metrics address');
    await unicorn.ready(workers);
    return { unicorn, socket, app: unicorn.url(), metrics: line.address as string };
  }
  const idOfPid = (unicorn: Unicorn, pid: number) => String(unicorn.lines('Booting worker').find((l) => l.workerPid === pid)!.workerId);

  it('shows a worker busy on the CPU as busy, and a quiet one as quiet, per worker and on average', async () => {
    const { unicorn, socket, app, metrics } = await serveWatched(path.join(APPS, 'busy.js'), 2, ['-k', 'async']);
    // Busy until the checks below are done (25 s at most), then released by this file.
    const release = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-')), 'release');
    const busy = request(`${app}/busy?ms=25000&until=${encodeURIComponent(release)}`, { timeoutMs: 30_000 });
    const families = await scrapeUntil(
      metrics,
      (f) => Object.values(perWorker(f, 'unicorn_worker_event_loop_utilization')).some((elu) => elu > 0.5),
      'a worker’s utilisation above 0.5',
    );
    const elu = perWorker(families, 'unicorn_worker_event_loop_utilization');
    const [busyId, quietId] = Object.keys(elu).sort((a, b) => elu[b]! - elu[a]!);
    expect(elu[quietId!]).toBeLessThan(0.5);
    expect(perWorker(families, 'unicorn_worker_requests_in_flight')).toEqual({ [busyId!]: 1, [quietId!]: 0 });
    const mean = sampleValue(families, 'unicorn_workers_event_loop_utilization')!;
    expect(mean).toBeCloseTo((elu[busyId!]! + elu[quietId!]!) / 2, 6);

    // ctl asks the workers for their counts: the busy one still answers, between its slices.
    const stats = await ctlStats(socket);
    const byId = Object.fromEntries(stats.workers.map((w) => [String(w.id), w]));
    expect(byId[busyId!]).toMatchObject({ inFlight: 1, elu: expect.any(Number) });
    expect(byId[busyId!]!.elu).toBeGreaterThan(0.5);
    expect(byId[quietId!]!.elu).toBeLessThan(0.5);
    expect(stats.elu).toBeCloseTo((byId[busyId!]!.elu + byId[quietId!]!.elu) / 2, 6);
    const status = await ctl(['--socket', socket, 'status']);
    const rows = status.stdout.split('\n');
    const busyAt = rows.find((row) => row.startsWith('PID'))!.indexOf('BUSY');
    const busyOf = (id: string) =>
      Number(
        rows
          .find((row) => row.split(/\s+/)[1] === id)!
          .slice(busyAt)
          .split(' ')[0],
      );
    expect(busyOf(busyId!)).toBeGreaterThan(0.5);
    expect(busyOf(quietId!)).toBeLessThan(0.5);

    // The busy worker is the one that served the request.
    writeFileSync(release, '');
    expect(idOfPid(unicorn, Number((await busy).body))).toBe(busyId);
  });

  // Both workers are stopped (SIGSTOP), so nothing accepts the connections that follow; with
  // --reuse-port the kernel spreads them over a socket of each worker, and every one counts.
  (process.platform === 'linux' ? it.each([[[]], [['--reuse-port']]]) : it.skip.each([[[]]]))(
    'counts the connections waiting to be accepted while no worker can take them (%j)',
    async (extra: string[]) => {
      const { unicorn, socket, app, metrics } = await serveWatched(ROUTES, 2, ['--timeout', '60s', ...extra]);
      expect(sampleValue(await scrape(metrics), 'unicorn_listen_queue')).toBe(0);
      const workers = unicorn.workerPids();
      for (const pid of workers) process.kill(pid, 'SIGSTOP');
      const { port } = new URL(app);
      const clients: net.Socket[] = [];
      try {
        await Promise.all(
          Array.from({ length: 12 }, () => {
            const client = net.connect({ host: '127.0.0.1', port: Number(port) });
            clients.push(client);
            return new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
          }),
        );
        expect(sampleValue(await scrape(metrics), 'unicorn_listen_queue')).toBe(12);
        expect((await ctlStats(socket)).backlog).toBe(12);
        expect((await ctl(['--socket', socket, 'status'])).stdout.split('\n')[2]).toBe('Waiting to be accepted: 12');
        // Once the workers run again they take them.
        for (const pid of workers) process.kill(pid, 'SIGCONT');
        await scrapeUntil(metrics, (f) => sampleValue(f, 'unicorn_listen_queue') === 0, 'the queue emptied');
      } finally {
        for (const pid of workers) process.kill(pid, 'SIGCONT');
        for (const client of clients) client.destroy();
      }
    },
  );
});
