/**
 * slow-requests: logs, in the workers, the requests that take longer than a threshold — once when
 * one is still running past it (the only sign of a request that never finishes), and once when it
 * is done. See slow-requests.md.
 *
 * Per request it costs one Map entry: preRequest adds the request with its start, postRequest
 * removes it. One interval timer per worker looks at the oldest entries; no timer, closure or object
 * per request.
 */
import type { IncomingMessage } from 'node:http';
import { DURATION_FORMS, parseDuration } from '../src/config/duration';
import { didYouMean } from '../src/config/nearest';
import type { Hooks } from '../src/hooks/types';
import { badUsage, badValue } from '../src/shared/errors';
import type { Logger } from '../src/shared/log';

export interface SlowRequestsOptions {
  /**
   * Requests that take longer than this are logged. A duration as every unicorn duration is given:
   * an `ms`-style string (`'500ms'`, `'2s'`) or a number of seconds (`0.5`); more than 0.
   * @default UNICORN_SLOW_REQUEST_THRESHOLD if set, else '1s'
   */
  threshold?: string | number;
}

export const THRESHOLD_ENV = 'UNICORN_SLOW_REQUEST_THRESHOLD';
const DEFAULT_THRESHOLD_MS = 1000;
const OPTION_NAMES = ['threshold'];
/** The sweep looks every threshold/2, within these bounds: often enough that a request is reported
 *  soon after it passes the threshold, rarely enough to cost nothing. */
const MIN_SWEEP_MS = 50;
const MAX_SWEEP_MS = 1000;

export default function slowRequests(options?: SlowRequestsOptions): Hooks {
  const { ms: threshold, source } = readThreshold(options, process.env);
  /** Requests in flight not yet reported, with when they started (performance.now()). A Map keeps
   *  insertion order, which is start order: the sweep stops at the first one under the threshold. */
  const running = new Map<IncomingMessage, number>();
  /** Requests the sweep has reported as still running: not reported again. */
  const reported = new Set<IncomingMessage>();
  let sweep: NodeJS.Timeout | undefined;

  const report = (log: Logger) => {
    const now = performance.now();
    for (const [req, started] of running) {
      const elapsed = now - started;
      if (elapsed <= threshold) break;
      running.delete(req);
      reported.add(req);
      log.warn(
        // The response is not done: its status is not known yet.
        { method: req.method, url: req.url, status: null, durationMs: Math.round(elapsed), aborted: false },
        `Request still running: ${req.method} ${req.url} for ${readable(elapsed)}`,
      );
    }
  };
  const stop = () => {
    clearInterval(sweep);
    sweep = undefined;
  };

  return {
    onStarting(arbiter) {
      arbiter.log.info({ thresholdMs: threshold }, `Slow-request logging: requests over ${readable(threshold)} are logged (${source})`);
    },
    postWorkerInit(worker) {
      stop();
      const every = Math.min(Math.max(threshold / 2, MIN_SWEEP_MS), MAX_SWEEP_MS);
      sweep = setInterval(report, every, worker.log);
      sweep.unref();
    },
    preRequest(_worker, req) {
      running.set(req, performance.now());
    },
    postRequest(worker, req, _res, { duration, status, aborted }) {
      if (!running.delete(req)) reported.delete(req);
      if (duration <= threshold) return;
      worker.log.warn(
        { method: req.method, url: req.url, status, durationMs: Math.round(duration), aborted },
        `Slow request: ${req.method} ${req.url} took ${readable(duration)} (status ${status}${aborted ? ', aborted' : ''})`,
      );
    },
    workerInt: stop,
    workerExit: stop,
  };
}

/**
 * The threshold in milliseconds and where it came from: the option, else the environment variable,
 * else the default. A bad value is refused naming where it came from, the value and what is
 * accepted.
 */
export function readThreshold(options: unknown, env: NodeJS.ProcessEnv): { ms: number; source: string } {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw badValue('the options', options, "an object such as { threshold: '500ms' }");
  }
  const given = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!OPTION_NAMES.includes(key)) {
      throw badUsage(`unknown option "${key}"${didYouMean(key, OPTION_NAMES)}; the options are ${OPTION_NAMES.join(', ')}`);
    }
  }
  if (given.threshold !== undefined) return { ms: parseThreshold(given.threshold, 'option threshold'), source: 'option threshold' };
  const fromEnv = env[THRESHOLD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { ms: parseThreshold(fromEnv, THRESHOLD_ENV), source: THRESHOLD_ENV };
  return { ms: DEFAULT_THRESHOLD_MS, source: 'default' };
}

/** A duration as unicorn reads every duration (parseDuration: numbers are seconds), more than 0. */
function parseThreshold(value: unknown, source: string): number {
  const ms = typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) ? parseDuration(String(value)) : undefined;
  if (ms === undefined || ms <= 0) throw badValue(source, value, `${DURATION_FORMS}; more than 0`);
  return ms;
}

/** 350ms, 1.2s, 4.5m: the message's form of a duration (`ms` would round 1.2s to 1s). */
function readable(millis: number): string {
  const ms = Math.round(millis);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  return `${Math.round(ms / 6000) / 10}m`;
}
