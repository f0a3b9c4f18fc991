/** A TypeScript-compiled CommonJS module's default export arrives wrapped in its exports object:
 *  the config file's plugins and the hook loader both take it out. */
export function unwrapDefault(value: unknown): unknown {
  const wrapped = typeof value === 'object' && value !== null && (value as { __esModule?: unknown }).__esModule && 'default' in value;
  return wrapped ? (value as { default: unknown }).default : value;
}
