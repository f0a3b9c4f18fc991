/**
 * `MODULE[:EXPORT]`: which module to load and which of its exports is the app. EXPORT is a dotted
 * path (`app`, `server.handler`) and may end in a factory call, `createApp()`, whose arguments are
 * JSON literals (`createApp("production", 4)`). Without EXPORT the default export is the app.
 */
export interface AppSpec {
  /** As the user wrote it, for messages. */
  raw: string;
  module: string;
  /** Property names from the module namespace to the app; empty for the default export. */
  exportPath: string[];
  /** Present when the export is a factory to call once per worker. */
  factoryArgs?: unknown[];
}

export const APP_SPEC_FORMS =
  'MODULE or MODULE:EXPORT, where EXPORT is a dotted name such as app or server.handler, optionally called as createApp()';

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Parse the positional argument. Returns a string saying what is wrong when it is malformed. */
export function parseAppSpec(raw: string): AppSpec | string {
  const colon = raw.indexOf(':');
  const module = colon === -1 ? raw : raw.slice(0, colon);
  if (module.trim() === '') return 'the module is missing';
  if (colon === -1) return { raw, module, exportPath: [] };

  let exportExpr = raw.slice(colon + 1).trim();
  if (exportExpr === '') return 'the export after ":" is missing';

  let factoryArgs: unknown[] | undefined;
  const call = /^([^(]*)\((.*)\)$/s.exec(exportExpr);
  if (call) {
    exportExpr = call[1]!.trim();
    try {
      factoryArgs = JSON.parse(`[${call[2]}]`) as unknown[];
    } catch {
      return `the arguments of ${exportExpr}(…) must be JSON literals, as in ${exportExpr}("production", 4)`;
    }
  }
  const exportPath = exportExpr.split('.');
  const bad = exportPath.find((part) => !IDENTIFIER.test(part));
  if (bad !== undefined) return `${JSON.stringify(bad)} is not a JavaScript identifier`;
  return factoryArgs === undefined ? { raw, module, exportPath } : { raw, module, exportPath, factoryArgs };
}
