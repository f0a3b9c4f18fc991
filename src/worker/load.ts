import { pathToFileURL } from 'node:url';
import type { AppSpec } from '../config/app-spec';
import type { BootStep } from '../ipc';
import { describeError as describe, kindOf } from '../shared/describe';
import { appError } from '../shared/errors';
import { resolveModule } from '../shared/resolve';
import { loadTypeScriptModulesAsEsm } from '../shared/typescript-modules';

/**
 * Load the app as MODULE[:EXPORT] names it: resolve and import the module (ESM or CommonJS, or
 * TypeScript through Node's type stripping), walk the export path, and call the factory when the
 * export is one. Every failure is an app-load error that names the app and the cause. `onStep`
 * hears of the import and the factory call as each begins: either may never settle.
 */
export async function loadApp(
  spec: AppSpec,
  cwd: string,
  onStep: (step: Extract<BootStep, { step: 'import' | 'factory' }>) => void = () => {},
): Promise<unknown> {
  const resolution = resolveModule(spec.module, cwd);
  if (!('file' in resolution)) {
    throw appError(
      'UNICORN_APP_NOT_FOUND',
      spec.raw,
      `module ${JSON.stringify(spec.module)} was not found from ${cwd} (tried ${resolution.tried.join(', ')})`,
    );
  }
  if (resolution.file.endsWith('.ts')) loadTypeScriptModulesAsEsm();
  let namespace: Record<string, unknown>;
  onStep({ step: 'import', file: resolution.file });
  try {
    namespace = (await import(pathToFileURL(resolution.file).href)) as Record<string, unknown>;
  } catch (err) {
    throw appError('UNICORN_APP_LOAD_FAILED', spec.raw, `importing ${resolution.file} failed: ${describe(err)}`, err);
  }

  const { value: exported, parent } = findExport(namespace, spec);
  if (spec.factoryArgs === undefined) return exported;
  const name = `${spec.exportPath.join('.')}()`;
  if (typeof exported !== 'function') {
    throw appError(
      'UNICORN_APP_NOT_A_HANDLER',
      spec.raw,
      `${name} was asked for, but ${spec.exportPath.join('.')} is ${kindOf(exported)}, not a function`,
    );
  }
  onStep({ step: 'factory', file: resolution.file, name });
  try {
    // Called on its parent, as `lib.build()` would be written in code.
    return await (exported as (...args: unknown[]) => unknown).apply(parent, spec.factoryArgs);
  } catch (err) {
    throw appError('UNICORN_APP_FACTORY_FAILED', spec.raw, `the factory ${name} threw: ${describe(err)}`, err);
  }
}

/**
 * Walk the export path. The first name is looked up among the module's exports and, for a CommonJS
 * module whose named exports Node could not detect, on its `module.exports` (the default export).
 */
function findExport(namespace: Record<string, unknown>, spec: AppSpec): { value: unknown; parent: unknown } {
  if (spec.exportPath.length === 0) {
    if (namespace.default === undefined) {
      throw appError(
        'UNICORN_APP_EXPORT_NOT_FOUND',
        spec.raw,
        `the module has no default export; name one as MODULE:EXPORT (it exports: ${exportNames(namespace)})`,
      );
    }
    return { value: namespace.default, parent: namespace };
  }
  const [first, ...rest] = spec.exportPath as [string, ...string[]];
  const fromDefault = namespace.default as Record<string, unknown> | undefined;
  let parent: unknown = first in namespace ? namespace : fromDefault;
  let value: unknown = first in namespace ? namespace[first] : isObjectLike(fromDefault) ? fromDefault[first] : undefined;
  let walked = first;
  if (value === undefined) {
    throw appError(
      'UNICORN_APP_EXPORT_NOT_FOUND',
      spec.raw,
      `the module has no export named ${JSON.stringify(first)} (it exports: ${exportNames(namespace)})`,
    );
  }
  for (const name of rest) {
    const next: unknown = isObjectLike(value) ? (value as Record<string, unknown>)[name] : undefined;
    if (next === undefined) {
      throw appError('UNICORN_APP_EXPORT_NOT_FOUND', spec.raw, `${walked} has no property ${JSON.stringify(name)}`);
    }
    parent = value;
    value = next;
    walked += `.${name}`;
  }
  return { value, parent };
}

const isObjectLike = (value: unknown): value is object => (typeof value === 'object' && value !== null) || typeof value === 'function';

function exportNames(namespace: Record<string, unknown>): string {
  const names = Object.keys(namespace).filter((k) => k !== 'module.exports');
  return names.length > 0 ? names.join(', ') : 'nothing';
}
