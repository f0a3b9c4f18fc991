/**
 * A config file read for a vassal of `unicorn emperor` (docs/emperor.md) is a template: `%n` in any
 * of its strings is the vassal's name, so that one file (or many symlinks to it) describes a family
 * of apps, each binding its own socket. `%%` is a literal %; any other % stays as written.
 */

const PLACEHOLDER = /%[n%]/g;

/** `value` with `%n` filled in every string it holds (in lists and plain objects); functions and
 *  other objects (a plugin, a Buffer) as they are. A copy: the module's export is left alone. */
export function fillVassalName(value: unknown, name: string): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (found) => (found === '%n' ? name : '%'));
  if (Array.isArray(value)) return value.map((item) => fillVassalName(item, name));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillVassalName(item, name)]));
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  // A module namespace has a null prototype, as an object literal made with Object.create(null).
  return prototype === Object.prototype || prototype === null;
}
