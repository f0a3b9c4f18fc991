/**
 * TypeScript written with `import` and `export` in a package whose package.json says
 * `"type": "commonjs"` (what `npm init -y` writes): Node loads a `.ts` file there as CommonJS, and
 * its first `export` is a SyntaxError. A load hook gives such a file to Node as an ES module, as Node
 * already does for a file in a package that names no type. `.cts` files, and `.ts` files that use
 * `require` and `module.exports` only, load as CommonJS as before. A worker installs the hook for a
 * TypeScript app only (every module load passes through it); the config file's load hook, in both
 * processes, does the same for the config file and what it imports.
 */
import { registerHooks } from 'node:module';

let installed = false;

export function loadTypeScriptModulesAsEsm(): void {
  if (installed) return;
  installed = true;
  registerHooks({ load: (url, context, nextLoad) => asModuleIfWritten(url, nextLoad(url, context)) });
}

/** A load's result, as an ES module when it is TypeScript that Node would load as CommonJS but that
 *  is written with import or export. The config file's own load hook applies it too. */
export function asModuleIfWritten<T extends { format?: string | null; source?: unknown }>(url: string, result: T): T {
  if (result.format !== 'commonjs-typescript' || result.source == null || !new URL(url).pathname.endsWith('.ts')) return result;
  const text = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  return hasModuleSyntax(text) ? { ...result, format: 'module-typescript' } : result;
}

/** Whether a line, outside comments, starts with an import or export statement (not `import(`). */
export function hasModuleSyntax(text: string): boolean {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return /^[ \t]*(?:import|export)\b(?![ \t]*\()/m.test(code);
}
