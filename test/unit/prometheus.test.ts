import pino from 'pino';
import prometheus, { DEFAULT_BUCKETS } from '../../hooks/prometheus';
import { Metrics, PUBLISHED_KEY } from '../../hooks/prometheus/metrics';
import { Recorder, readSnapshot, type Snapshot, Totals } from '../../hooks/prometheus/snapshot';
import { ExitTally, serverStats } from '../../src/arbiter/stats';
import type { ArbiterView, ExitReason, IdleState, WorkerStats } from '../../src/hooks/types';
import { family, histogramSamples } from '../../src/shared/prometheus-exposition';
import { parseExposition, sampleValue } from '../helpers/exposition';

const silent = pino({ level: 'silent' });

describe('the exposition format', () => {
  it('escapes label values and HELP text so that they read back as written', () => {
    const text = family('x_total', 'counter', 'a \\ backslash\nand a line', [{ labels: { path: 'a"b\\c\nd' }, value: 1 }]);
    expect(text).toBe('# HELP x_total a \\\\ backslash\\nand a line\n# TYPE x_total counter\nx_total{path="a\\"b\\\\c\\nd"} 1\n');
    const parsed = parseExposition(text).get('x_total')!;
    expect(parsed.help).toBe('a \\ backslash\nand a line');
    expect(parsed.samples[0]!.labels.path).toBe('a"b\\c\nd');
  });

  it('writes values as Go parses them', () => {
    const text = family('g', 'gauge', 'h', [
      { labels: { v: 'inf' }, value: Infinity },
      { labels: { v: '-inf' }, value: -Infinity },
      { labels: { v: 'nan' }, value: NaN },
      { labels: { v: 'small' }, value: 1e-7 },
    ]);
    expect(text).toContain('g{v="inf"} +Inf\ng{v="-inf"} -Inf\ng{v="nan"} NaN\ng{v="small"} 1e-7\n');
    expect(sampleValue(parseExposition(text), 'g', { v: 'small' })).toBe(1e-7);
  });

  it('writes a histogram cumulative, with +Inf equal to _count', () => {
    const text = family('d_seconds', 'histogram', 'h', histogramSamples([0.1, 1], [2, 0, 3], 4.5, { a: 'b' }));
    expect(text.split('\n').slice(2, -1)).toEqual([
      'd_seconds_bucket{a="b",le="0.1"} 2',
      'd_seconds_bucket{a="b",le="1"} 2',
      'd_seconds_bucket{a="b",le="+Inf"} 5',
      'd_seconds_sum{a="b"} 4.5',
      'd_seconds_count{a="b"} 5',
    ]);
    expect(() => parseExposition(text)).not.toThrow();
  });
});

describe('snapshots', () => {
  it('count by status class and by bucket, a bound holding what equals it', () => {
    const recorder = new Recorder([0.005, 0.1]);
    recorder.record(200, false, 5); // 0.005 s: in le="0.005"
    recorder.record(199, false, 6);
    recorder.record(404, true, 100);
    recorder.record(503, false, 101);
    recorder.record(999, false, 20_000);
    expect(recorder.snapshot).toEqual({
      statuses: [1, 1, 0, 1, 1, 1],
      aborted: 1,
      le: [0.005, 0.1],
      buckets: [1, 2, 2],
      sum: expect.closeTo(20.212),
    });
    expect(readSnapshot(JSON.parse(JSON.stringify(recorder.snapshot)))).toEqual(recorder.snapshot);
  });

  it('add up into the arbiter’s buckets, coarsely but truly when a worker has others', () => {
    const totals = new Totals([0.1, 1]);
    const same: Snapshot = { statuses: [0, 3, 0, 0, 0, 0], aborted: 0, le: [0.1, 1], buckets: [1, 1, 1], sum: 2 };
    const other: Snapshot = { statuses: [0, 4, 0, 0, 0, 0], aborted: 1, le: [0.05, 0.5, 5], buckets: [1, 1, 1, 1], sum: 9 };
    totals.add(same);
    totals.add(other);
    // 0.05 → le 0.1; 0.5 → le 1; 5 and +Inf → +Inf.
    expect(totals.buckets).toEqual([2, 2, 3]);
    expect(totals.statuses[1]).toBe(7);
    expect(totals.count).toBe(7);
    expect(totals.aborted).toBe(1);
    expect(totals.sum).toBe(11);
  });

  it('are ignored when they are not snapshots', () => {
    const good: Snapshot = { statuses: [0, 1, 0, 0, 0, 0], aborted: 0, le: [1], buckets: [1, 0], sum: 0.5 };
    expect(readSnapshot(good)).toBe(good);
    expect(readSnapshot(undefined)).toBeUndefined();
    expect(readSnapshot({ ...good, buckets: [1] })).toBeUndefined();
    expect(readSnapshot({ ...good, le: [1, 1] })).toBeUndefined();
    expect(readSnapshot({ ...good, statuses: [1, -1, 0, 0, 0, 0] })).toBeUndefined();
    expect(readSnapshot({ ...good, sum: 'x' })).toBeUndefined();
  });
});

describe('the arbiter’s metrics', () => {
  const snapshot = (ok: number): Snapshot => ({
    statuses: [0, ok, 0, 0, 0, 0],
    aborted: 0,
    le: [...DEFAULT_BUCKETS],
    buckets: [ok, ...DEFAULT_BUCKETS.map(() => 0)],
    sum: ok / 1000,
  });
  const worker = (id: number, ok: number, exit?: ExitReason): WorkerStats => ({
    id,
    pid: 1000 + id,
    generation: 1,
    state: exit ? 'exited' : 'ready',
    startedAt: 0,
    age: 1000,
    requests: ok,
    inFlight: 0,
    elu: 0,
    connections: 0,
    rss: 1e6,
    accessLogDropped: 0,
    mounts: { '/': ok },
    heartbeatAge: 250,
    published: { [PUBLISHED_KEY]: snapshot(ok) },
    ...(exit ? { exit: { code: 0, signal: null, reason: exit } } : {}),
  });
  /** The arbiter as the plugin sees it: what it reports comes from `stats()`, as in the real one. */
  const arbiter = (
    workers: WorkerStats[],
    exits: Partial<Record<ExitReason, number>> = {},
    idle: { state: IdleState; wakeUps: number; idleStops: number } = { state: 'serving', wakeUps: 0, idleStops: 0 },
  ): ArbiterView => {
    const tally = new ExitTally();
    for (const [reason, n] of Object.entries(exits) as [ExitReason, number][]) for (let i = 0; i < n; i++) tally.add(reason, 0, false);
    const stats = () =>
      serverStats({
        version: '0.0.0',
        startedAt: 0,
        state: 'serving',
        workerCount: 2,
        generation: 1,
        listeners: [],
        controlSocket: undefined,
        workers,
        exited: tally,
        idle,
      });
    return {
      pid: 1,
      startedAt: 0,
      config: {} as ArbiterView['config'],
      log: silent,
      workerCount: 2,
      reloading: false,
      idleState: idle.state,
      predecessorPid: undefined,
      workers: () => workers,
      stats,
    };
  };
  const ok = (text: string) => sampleValue(parseExposition(text), 'unicorn_http_requests_total', { status_class: '2xx' });

  it('never go down when a worker exits, even if a scrape comes before its childExit', () => {
    const metrics = new Metrics(DEFAULT_BUCKETS, silent);
    expect(ok(metrics.render(arbiter([worker(1, 5), worker(2, 7)])))).toBe(12);
    // Worker 1 has left the arbiter's list, and its childExit has not run yet.
    expect(ok(metrics.render(arbiter([worker(2, 8)])))).toBe(13);
    // The arbiter counts the exit when it reaps the worker; the plugin adds its requests at childExit.
    metrics.workerExited(worker(1, 6, 'scale-down'));
    const text = metrics.render(arbiter([worker(2, 8)], { 'scale-down': 1 }));
    expect(ok(text)).toBe(14);
    expect(sampleValue(parseExposition(text), 'unicorn_worker_exits_total', { reason: 'scale-down' })).toBe(1);
    expect(sampleValue(parseExposition(text), 'unicorn_worker_exits_total', { reason: 'crash' })).toBe(0);
    expect(sampleValue(parseExposition(text), 'unicorn_http_request_duration_seconds_count')).toBe(14);
  });

  it('count the changes of an adaptive worker count by direction, and have no such series for a fixed count', () => {
    const fixed = arbiter([worker(1, 0)]);
    const scaling = { min: 1, max: 4, changes: { up: 3, down: 1 }, last: null };
    const adaptive: ArbiterView = { ...fixed, stats: () => ({ ...fixed.stats(), scaling }) };
    const families = parseExposition(new Metrics(DEFAULT_BUCKETS, silent).render(adaptive));
    expect(sampleValue(families, 'unicorn_workers_scaled_total', { direction: 'up' })).toBe(3);
    expect(sampleValue(families, 'unicorn_workers_scaled_total', { direction: 'down' })).toBe(1);
    expect(parseExposition(new Metrics(DEFAULT_BUCKETS, silent).render(fixed)).has('unicorn_workers_scaled_total')).toBe(false);
  });

  it('report scale to zero: the state as a gauge per state, idle stops and wake-ups as counters', () => {
    const families = parseExposition(
      new Metrics(DEFAULT_BUCKETS, silent).render(arbiter([], {}, { state: 'idle', wakeUps: 2, idleStops: 3 })),
    );
    expect(families.get('unicorn_idle_state')!.samples.map((s) => [s.labels.state, s.value])).toEqual([
      ['serving', 0],
      ['idle', 1],
      ['waking', 0],
    ]);
    expect(sampleValue(families, 'unicorn_idle_stops_total')).toBe(3);
    expect(sampleValue(families, 'unicorn_wake_ups_total')).toBe(2);
  });

  it('report each live worker, and no 600-999 class until there is one', () => {
    const text = new Metrics(DEFAULT_BUCKETS, silent).render(
      arbiter([worker(3, 1), { ...worker(4, 0), state: 'booting', rss: 0, published: {} }]),
    );
    const families = parseExposition(text);
    expect(families.get('unicorn_worker_heartbeat_age_seconds')!.samples.map((s) => [s.labels.worker, s.value])).toEqual([
      ['3', 0.25],
      ['4', 0.25],
    ]);
    // Not before its first heartbeat.
    expect(families.get('unicorn_worker_resident_memory_bytes')!.samples.map((s) => s.labels.worker)).toEqual(['3']);
    expect(sampleValue(families, 'unicorn_workers', { state: 'booting' })).toBe(1);
    expect(sampleValue(families, 'unicorn_http_requests_total', { status_class: 'other' })).toBeUndefined();
  });
});

describe('the utilisation metrics', () => {
  const worker = (id: number, state: WorkerStats['state'], elu: number, inFlight: number): WorkerStats => ({
    id,
    pid: 1000 + id,
    generation: 1,
    state,
    startedAt: 0,
    age: 1000,
    requests: 0,
    inFlight,
    elu,
    connections: 0,
    rss: 1e6,
    accessLogDropped: 0,
    mounts: {},
    heartbeatAge: 250,
    published: {},
  });
  const view = (workers: WorkerStats[], backlog?: number): ArbiterView =>
    ({
      stats: () =>
        serverStats({
          ...{ version: '0', startedAt: 0, state: 'serving', workerCount: 2, generation: 1, listeners: [], controlSocket: undefined },
          workers,
          exited: new ExitTally(),
          backlog,
        }),
    }) as ArbiterView;

  it('give each worker’s event-loop utilisation and requests in flight, the serving workers’ mean, and the listen queue', () => {
    const text = new Metrics(DEFAULT_BUCKETS, silent).render(
      view([worker(1, 'ready', 0.75, 3), worker(2, 'ready', 0.25, 0), worker(3, 'stopping', 0.5, 1)], 17),
    );
    expect(text).toContain(
      '# HELP unicorn_worker_event_loop_utilization Event-loop utilisation of each live worker (0 to 1: the share of the time it was busy) over the interval its latest heartbeat covers; 1 while it is late for the next.\n' +
        '# TYPE unicorn_worker_event_loop_utilization gauge\n' +
        'unicorn_worker_event_loop_utilization{worker="1"} 0.75\n' +
        'unicorn_worker_event_loop_utilization{worker="2"} 0.25\n' +
        'unicorn_worker_event_loop_utilization{worker="3"} 0.5\n',
    );
    expect(text).toContain(
      '# HELP unicorn_worker_requests_in_flight Requests in progress in each live worker, as of its latest heartbeat.\n' +
        '# TYPE unicorn_worker_requests_in_flight gauge\n' +
        'unicorn_worker_requests_in_flight{worker="1"} 3\n' +
        'unicorn_worker_requests_in_flight{worker="2"} 0\n' +
        'unicorn_worker_requests_in_flight{worker="3"} 1\n',
    );
    const families = parseExposition(text);
    // A stopping worker no longer accepts: not in the mean.
    expect(sampleValue(families, 'unicorn_workers_event_loop_utilization')).toBe(0.5);
    expect(families.get('unicorn_workers_event_loop_utilization')!.type).toBe('gauge');
    expect(sampleValue(families, 'unicorn_listen_queue')).toBe(17);
    expect(families.get('unicorn_listen_queue')!.type).toBe('gauge');
  });

  it('leave out what is not known: the mean with no worker serving, the queue where it cannot be read', () => {
    const families = parseExposition(new Metrics(DEFAULT_BUCKETS, silent).render(view([worker(1, 'booting', 0, 0)])));
    expect(families.get('unicorn_workers_event_loop_utilization')!.samples).toEqual([]);
    expect(families.get('unicorn_listen_queue')!.samples).toEqual([]);
    expect(sampleValue(families, 'unicorn_worker_event_loop_utilization', { worker: '1' })).toBe(0);
  });
});

describe('the plugin’s options', () => {
  const refusal = (options: unknown, env: Record<string, string> = {}): string => {
    const saved = process.env.UNICORN_PROMETHEUS_BIND;
    Object.assign(process.env, env);
    try {
      prometheus(options as never);
    } catch (err) {
      return (err as Error).message;
    } finally {
      if (saved === undefined) delete process.env.UNICORN_PROMETHEUS_BIND;
      else process.env.UNICORN_PROMETHEUS_BIND = saved;
    }
    throw new Error('expected a refusal');
  };

  it('are checked when the plugin is set up, which starts nothing', () => {
    expect(Object.keys(prometheus({ bind: '[::1]:0', buckets: [0, 1] })).sort()).toEqual([
      'childExit',
      'onExit',
      'onStarting',
      'postRequest',
    ]);
    expect(refusal({ bind: 'nope' })).toBe(
      'option bind "nope" is not accepted: the port is missing; expected HOST:PORT or [IPv6]:PORT, as in 127.0.0.1:9464 (port 0 takes a free port)',
    );
    expect(refusal({ bind: 'unix:/run/m.sock' })).toMatch(
      /^option bind "unix:\/run\/m.sock" is not accepted: metrics are served over TCP only; expected/,
    );
    expect(refusal({ bind: '::1:9464' })).toMatch(/an IPv6 address needs brackets/);
    expect(refusal({ bind: 9464 })).toMatch(/^option bind 9464 is not accepted: it is number 9464; expected/);
    expect(refusal(undefined, { UNICORN_PROMETHEUS_BIND: 'localhost:99999' })).toMatch(
      /^UNICORN_PROMETHEUS_BIND "localhost:99999" is not accepted: "99999" is not a port number/,
    );
    expect(refusal({ buckets: [1, 0.5] })).toMatch(
      /^option buckets \[1,0.5\] is not accepted: expected a non-empty array of finite numbers of seconds/,
    );
    expect(refusal({ buckets: [] })).toMatch(/^option buckets \[\] is not accepted/);
    expect(refusal({ bnid: 'x' })).toBe('unknown option "bnid" (did you mean "bind"?); the options are bind, buckets');
    expect(refusal('127.0.0.1:9464')).toMatch(/^options "127.0.0.1:9464" are not accepted: expected an object/);
  });

  it('take the address from the option before the environment', () => {
    expect(refusal({ bind: 'nope' }, { UNICORN_PROMETHEUS_BIND: '127.0.0.1:0' })).toMatch(/^option bind "nope"/);
    expect(refusal(undefined, { UNICORN_PROMETHEUS_BIND: 'nope' })).toMatch(/^UNICORN_PROMETHEUS_BIND "nope"/);
    expect(refusal({}, { UNICORN_PROMETHEUS_BIND: 'nope' })).toMatch(/^UNICORN_PROMETHEUS_BIND "nope"/);
  });
});
