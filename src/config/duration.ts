import ms from 'ms';

export const DURATION_FORMS = 'a duration such as 30s, 2m or 500ms, or a number of seconds';

/**
 * Parse a duration into milliseconds: an `ms`-style string (`30s`, `2m`, `500ms`) or a plain
 * number of seconds (`30`, `0.5`), as Gunicorn's timeouts are given. Negative values are refused.
 */
export function parseDuration(raw: string): number | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  const millis = /^\d+(?:\.\d+)?$/.test(value) ? Number(value) * 1000 : ms(value as ms.StringValue);
  if (typeof millis !== 'number' || !Number.isFinite(millis) || millis < 0) return undefined;
  return Math.round(millis);
}

/** A duration for logs, --print-config and --help, exactly: the largest unit that divides it
 *  (`1h`, `5m`), else seconds with decimals (`90s`, `1.5s`), else milliseconds. */
export function formatDuration(millis: number): string {
  for (const [unit, factor] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (millis >= factor && millis % factor === 0) return `${millis / factor}${unit}`;
  }
  return millis >= 1000 ? `${millis / 1000}s` : `${millis}ms`;
}

/** The longest delay setTimeout takes (about 24.8 days): it fires at once for a longer one. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration as a timer can wait for it: a longer one (--graceful-timeout 30d) waits as long as a
 *  timer can, which is as good as never for a process that is stopping. */
export const timerMs = (millis: number): number => Math.min(millis, MAX_TIMER_MS);
