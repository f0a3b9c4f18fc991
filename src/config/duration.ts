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

/** The shortest readable form of a duration, for logs and --help defaults. */
export const formatDuration = (millis: number): string => ms(millis);
