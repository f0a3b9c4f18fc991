/**
 * The arbiter's side of the prometheus plugin: what a scrape reports, collected when it comes. Every
 * metric is described in hooks/prometheus.md; keep the two together.
 */
import type { ArbiterView, IdleState, WorkerState, WorkerStats } from '../../src/hooks/types';
import type { Logger } from '../../src/shared/log';
import { family as familyText, histogramSamples, type Labels, type Sample } from '../../src/shared/prometheus-exposition';
import { readSnapshot, type Snapshot, STATUS_CLASSES, Totals } from './snapshot';

/** Under this key workers publish their snapshot. */
export const PUBLISHED_KEY = 'prometheus';

// Every label value is reported from the start, at zero, so that a series exists before its first
// event (a rate over a series that appears with its first increment misses that increment). The
// arbiter's stats have every exit reason from zero; the states come from a record rather than a
// list, which the compiler refuses when a state is added to the type.
const LIVE_STATES = Object.keys({ booting: 0, ready: 0, retiring: 0, stopping: 0 } satisfies Record<Exclude<WorkerState, 'exited'>, 0>);

const IDLE_STATES = Object.keys({ serving: 0, idle: 0, waking: 0 } satisfies Record<IdleState, 0>) as IdleState[];

export class Metrics {
  /** What workers that have exited had published last: counters must not go down when a worker is
   *  replaced. */
  private readonly exited: Totals;
  /**
   * The latest snapshot seen of each worker whose childExit has not run yet. A worker leaves
   * `arbiter.stats().workers` before the childExit hooks run, and a plugin listed before this one may
   * take its time in its own: a scrape meanwhile still counts what the worker served.
   */
  private readonly seen = new Map<number, Snapshot>();
  private warnedMalformed = false;

  constructor(
    bounds: readonly number[],
    private readonly log: Logger,
    /** On every series: `vassal` in a vassal of an emperor. */
    private readonly labels: Labels = {},
  ) {
    this.exited = new Totals(bounds);
  }

  /** childExit: the worker's last snapshot joins the totals. */
  workerExited(worker: WorkerStats): void {
    const snapshot = this.snapshotOf(worker) ?? this.seen.get(worker.id);
    this.seen.delete(worker.id);
    if (snapshot) this.exited.add(snapshot);
  }

  /** The exposition, as of now: the workers, their count and exits from the arbiter's stats (what
   *  `unicorn ctl stats` reports), the request counters from what the workers published. */
  render(arbiter: ArbiterView): string {
    const stats = arbiter.stats();
    const { workers } = stats;
    const family: typeof familyText = (name, type, help, samples) => familyText(name, type, help, samples, this.labels);
    for (const worker of workers) {
      const snapshot = this.snapshotOf(worker);
      if (snapshot) this.seen.set(worker.id, snapshot);
    }
    const requests = this.exited.copy();
    for (const snapshot of this.seen.values()) requests.add(snapshot);
    const byState = new Map(LIVE_STATES.map((state) => [state, 0]));
    for (const { state } of workers) byState.set(state, (byState.get(state) ?? 0) + 1);
    const perWorker = (value: (w: WorkerStats) => number | undefined): Sample[] =>
      workers.flatMap((w) => {
        const v = value(w);
        return v === undefined ? [] : [{ labels: { worker: String(w.id) }, value: v }];
      });

    return [
      family(
        'unicorn_http_requests_total',
        'counter',
        'Requests the workers have served, by status class (1xx to 5xx; other for 600 to 999), as of their latest heartbeats.',
        STATUS_CLASSES.flatMap((statusClass, i) =>
          statusClass === 'other' && requests.statuses[i] === 0
            ? []
            : [{ labels: { status_class: statusClass }, value: requests.statuses[i]! }],
        ),
      ),
      family(
        'unicorn_http_requests_aborted_total',
        'counter',
        'Requests whose connection closed before the response was complete (also counted in unicorn_http_requests_total).',
        [{ value: requests.aborted }],
      ),
      family(
        'unicorn_http_request_duration_seconds',
        'histogram',
        'Time from a request reaching the app to its response ending (or its connection closing).',
        histogramSamples(requests.bounds, requests.buckets, requests.sum),
      ),
      family('unicorn_http_requests_in_flight', 'gauge', 'Requests in progress in the live workers, as of their latest heartbeats.', [
        { value: stats.inFlight },
      ]),
      family(
        'unicorn_workers',
        'gauge',
        'Live worker processes, by state: booting, ready (serving), retiring (serving until replaced), stopping.',
        [...byState].map(([state, count]) => ({ labels: { state }, value: count })),
      ),
      family(
        'unicorn_workers_target',
        'gauge',
        'How many workers the arbiter aims to run (--workers, changed by TTIN, TTOU, WINCH, reloads and, with MIN:MAX, the load).',
        [{ value: stats.workerCount }],
      ),
      // --workers MIN:MAX only: a fixed count never changes by load.
      stats.scaling
        ? family(
            'unicorn_workers_scaled_total',
            'counter',
            'Changes of the worker count the load made (--workers MIN:MAX), by direction: up or down.',
            Object.entries(stats.scaling.changes).map(([direction, count]) => ({ labels: { direction }, value: count })),
          )
        : '',
      family(
        'unicorn_idle_state',
        'gauge',
        'Scale to zero (--idle-timeout): 1 for the state the server is in, serving, idle (no worker; the next connection starts them) or waking.',
        IDLE_STATES.map((state) => ({ labels: { state }, value: stats.idleState === state ? 1 : 0 })),
      ),
      family('unicorn_idle_stops_total', 'counter', 'Times every worker was stopped for --idle-timeout.', [{ value: stats.idleStops }]),
      family('unicorn_wake_ups_total', 'counter', 'Times the workers were started again after an idle stop.', [{ value: stats.wakeUps }]),
      family(
        'unicorn_worker_exits_total',
        'counter',
        'Worker processes that have exited, by reason: replaced (reload, max-requests, max-memory, max-lifetime), failed (crash, boot-failed, timeout, boot-timeout, reload-failed), or stopped (scale-down, shutdown).',
        Object.entries(stats.exits).map(([reason, count]) => ({ labels: { reason }, value: count })),
      ),
      family(
        'unicorn_worker_heartbeat_age_seconds',
        'gauge',
        'Seconds since each live worker last sent a heartbeat (or was forked); --timeout kills a worker silent for longer.',
        perWorker((w) => w.heartbeatAge / 1000),
      ),
      family(
        'unicorn_worker_resident_memory_bytes',
        'gauge',
        'Resident memory of each live worker, as of its latest heartbeat; absent until its first.',
        perWorker((w) => (w.rss > 0 ? w.rss : undefined)),
      ),
      family(
        'unicorn_worker_event_loop_utilization',
        'gauge',
        'Event-loop utilisation of each live worker (0 to 1: the share of the time it was busy) over the interval its latest heartbeat covers; 1 while it is late for the next.',
        perWorker((w) => w.elu),
      ),
      family(
        'unicorn_worker_requests_in_flight',
        'gauge',
        'Requests in progress in each live worker, as of its latest heartbeat.',
        perWorker((w) => w.inFlight),
      ),
      family(
        'unicorn_workers_event_loop_utilization',
        'gauge',
        'Mean event-loop utilisation (0 to 1) of the serving workers (ready and retiring); absent while none serves.',
        stats.elu === null ? [] : [{ value: stats.elu }],
      ),
      family(
        'unicorn_listen_queue',
        'gauge',
        'Connections waiting in the accept queues of the TCP listening sockets, not yet taken by a worker (Linux only; absent elsewhere).',
        stats.backlog === null ? [] : [{ value: stats.backlog }],
      ),
    ].join('');
  }

  private snapshotOf(worker: WorkerStats): Snapshot | undefined {
    const published = worker.published[PUBLISHED_KEY];
    if (published === undefined) return undefined;
    const snapshot = readSnapshot(published);
    if (!snapshot && !this.warnedMalformed) {
      this.warnedMalformed = true;
      this.log.warn(
        { workerId: worker.id },
        `prometheus: worker ${worker.id} published "${PUBLISHED_KEY}" in a form this plugin does not read; its requests are not counted`,
      );
    }
    return snapshot;
  }
}
