/**
 * The adaptive worker count (--workers MIN:MAX, docs/elastic.md): when to add workers and when to
 * remove one, from the ready workers' event-loop utilisation and the listeners' accept queue. A
 * decision on an injected clock; the arbiter's loop calls `consider` each turn, and staffing.ts
 * forks up to the target it sets or stops the idlest beyond it.
 */
import { formatDuration } from '../../config/duration';
import type { Settings } from '../../config/settings';
import type { ScalingStats } from '../../hooks/types';
import type { Logger } from '../../shared/log';
import { nWorkers } from '../actions';
import { beatOverdue, busyness } from '../worker-process';
import type { WorkerTable } from '../worker-table';

/** A mean utilisation this close to 1: the workers are full, however much more work there is. */
const SATURATED = 0.95;

export type ScalerSettings = Pick<
  Settings,
  | 'workerBounds'
  | 'scaleUpAt'
  | 'scaleDownAt'
  | 'scaleBacklog'
  | 'scaleWindow'
  | 'scaleCooldown'
  | 'scaleDownAfter'
  | 'timeout'
  | 'idleTimeout'
>;

export interface ScalerContext {
  now: () => number;
  log: Logger;
  settings: () => ScalerSettings;
  workers: WorkerTable;
  target: () => number;
  setTarget: (count: number) => void;
  /** Connections waiting in the accept queues of the listeners, undefined where they cannot be read. */
  backlog: () => number | undefined;
  /** No decision now: a reload replaces the workers, the server stops, or it is idle. */
  paused: () => boolean;
}

/** A change of the count, as `ctl status` shows the last one. */
export interface ScalingChange {
  from: number;
  to: number;
  /** `busy 0.93 for 5s, backlog 41`, or `set by hand` for TTIN, TTOU and ctl scale. */
  reason: string;
  /** On the scaler's clock. */
  at: number;
}

/** The mean utilisation of the ready workers at one moment: their heartbeats say what it was since
 *  their previous ones, so it stands for the time back to the sample before. */
interface Sample {
  at: number;
  busy: number;
}

/** Utilisation shown in the log with two decimals, as uWSGI's busyness is with a percentage. */
const show = (busy: number) => busy.toFixed(2);
/** Spans in the log in whole seconds under a minute (`5s`), as the settings are given. */
const span = (ms: number) => formatDuration(Math.max(1000, Math.round(ms / 1000) * 1000));

export class Scaler {
  private samples: Sample[] = [];
  /** Where the first sample's time begins: the last change, or the sample dropped before it. */
  private samplesFrom: number;
  /** The last change of the count, the load's or a manual one: the damping counts from it. */
  private changedAt: number;
  private lastChange: ScalingChange | undefined;
  /** The load's changes, by direction (the prometheus plugin counts them). */
  readonly changes = { up: 0, down: 0 };

  constructor(private readonly context: ScalerContext) {
    this.changedAt = this.samplesFrom = context.now();
  }

  /** What `ctl status`, `stats --json` and hooks show: null for a fixed count. */
  stats(): ScalingStats | null {
    const { min, max, by } = this.context.settings().workerBounds;
    if (by !== 'load') return null;
    const last = this.lastChange;
    const { from, to, reason, at } = last ?? { from: 0, to: 0, reason: '', at: 0 };
    return { min, max, changes: { ...this.changes }, last: last ? { from, to, reason, age: this.context.now() - at } : null };
  }

  /** TTIN, TTOU or ctl scale set the count: it stands until the load, measured afresh, says otherwise. */
  setByHand(from: number, to: number): void {
    const now = this.context.now();
    this.restart(now);
    this.lastChange = { from, to, reason: 'set by hand', at: now };
  }

  /** One turn of the loop: take a sample, and change the target if the load asks for it. */
  consider(): void {
    const { context } = this;
    const settings = context.settings();
    if (settings.workerBounds.by !== 'load') return;
    const now = context.now();
    // What was measured before a reload or an idle stop is not what the workers after it do; a
    // target of 0 (WINCH, idle) is woken by a connection, not by the load.
    if (context.paused() || context.target() === 0) return this.restart(now);
    // Workers still booting (the last change's, a respawn) will share the load the others carry
    // now: measured before they serve, it would ask for more again, up to MAX.
    if (context.workers.serving().length < context.target()) return this.restart(now);
    if (!this.sample(now, settings)) return;
    const target = context.target();
    const { min, max } = settings.workerBounds;
    const sinceChange = now - this.changedAt;
    if (sinceChange < settings.scaleCooldown) return;
    const backlog = context.backlog();
    const window = this.mean(now - settings.scaleWindow, now);
    const queued = settings.scaleBacklog > 0 && backlog !== undefined && backlog >= settings.scaleBacklog;
    // A mean over less than the window (the count changed since) is not yet one to act on.
    const busy = window.ms >= settings.scaleWindow && window.busy >= settings.scaleUpAt;
    if (target < max && (queued || busy)) {
      // As many as would bring the mean under the mark with the same work; one for a queue alone.
      // Saturated, the mean says only that the work outgrows the workers, not by how much: double.
      const wanted = Math.ceil((target * window.busy) / settings.scaleUpAt);
      const floor = busy && window.busy >= SATURATED ? 2 * target : target + 1;
      const to = Math.min(max, Math.max(floor, wanted));
      return this.change(target, to, `busy ${show(window.busy)} for ${span(window.ms)}${backlogText(backlog)}`, now, 'up');
    }
    if (target <= Math.max(min, 1) || sinceChange < settings.scaleDownAfter || queued) return;
    const low = this.mean(now - settings.scaleDownAfter, now);
    // The workers left take the same work: they must stay under the mark that would add one back.
    const fits = (low.busy * target) / (target - 1) < settings.scaleUpAt;
    const longEnough = low.ms >= settings.scaleDownAfter;
    if (longEnough && low.busy <= settings.scaleDownAt && window.busy <= settings.scaleDownAt && fits) {
      this.change(target, target - 1, `busy ${show(low.busy)} for ${span(low.ms)}${backlogText(backlog)}`, now, 'down');
    }
  }

  /** Keep the serving workers' mean utilisation now as a sample, of those that have reported since
   *  they were ready and since the last change, and of those past their heartbeat (fully busy); false
   *  when there are none. Samples older than the longest span read are dropped. */
  private sample(now: number, settings: ScalerSettings): boolean {
    const measured = this.context.workers
      .serving()
      .filter((r) => r.readyAt !== undefined && (r.countsAt > Math.max(r.readyAt, this.changedAt) || beatOverdue(r, now, settings)));
    if (measured.length === 0) return false;
    const busy = measured.reduce((sum, r) => sum + busyness(r, now, settings), 0) / measured.length;
    const keep = now - Math.max(settings.scaleWindow, settings.scaleDownAfter);
    while (this.samples.length > 0 && this.samples[0]!.at <= keep) this.samplesFrom = this.samples.shift()!.at;
    this.samples.push({ at: now, busy });
    return true;
  }

  /** The time-weighted mean of the samples from `from` (never before the last change) to the
   *  latest, taken now, and the span it covers. */
  private mean(from: number, now: number): { busy: number; ms: number } {
    const start = Math.max(from, this.samplesFrom);
    let weighted = 0;
    let since = this.samplesFrom;
    for (const { at, busy } of this.samples) {
      weighted += busy * Math.max(0, at - Math.max(since, start));
      since = at;
    }
    const ms = now - start;
    return { busy: ms > 0 ? weighted / ms : 0, ms };
  }

  private change(from: number, to: number, reason: string, now: number, direction: 'up' | 'down'): void {
    // test/integration/adaptive.test.ts waits for this line.
    this.context.log.info({ workers: to, was: from, reason }, `Scaling ${from} → ${nWorkers(to)}: ${reason}`);
    this.context.setTarget(to);
    this.changes[direction]++;
    this.restart(now);
    this.lastChange = { from, to, reason, at: now };
  }

  /** The damping counts from `now`, and what was measured before it is not read again. */
  private restart(now: number): void {
    this.changedAt = this.samplesFrom = now;
    this.samples = [];
  }
}

const backlogText = (backlog: number | undefined) => (backlog === undefined ? '' : `, backlog ${backlog}`);
