/** Values and errors in one line each, as refusals and logs show them. */

export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  if (typeof value === 'function') return `a function of ${value.length} parameters`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** The error in one line; for a syntax error, where it is (Node puts `file:line` atop the stack). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const where = err instanceof SyntaxError ? /^(\S+:\d+)\n/.exec(err.stack ?? '')?.[1] : undefined;
  return `${err.name}: ${err.message}${where ? ` (at ${where.replace(/^file:\/\//, '')})` : ''}`;
}
