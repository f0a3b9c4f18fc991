/**
 * TypeScript written with `import` and `export` in a package whose package.json says
 * `"type": "commonjs"` (what `npm init -y` writes): Node loads a `.ts` file there as CommonJS, and
 * its first `export` is a SyntaxError. A load hook gives such a file to Node as an ES module, as Node
 * already does for a file in a package that names no type. `.cts` files, and `.ts` files that use
 * `require` and `module.exports` only, load as CommonJS as before. Both processes install it: the
 * arbiter for `unicorn.config.ts`, each worker for the app and the config file.
 */
import { registerHooks } from 'node:module';

let installed = false;

export function loadTypeScriptModulesAsEsm(): void {
  if (installed) return;
  installed = true;
  registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      if (result.format !== 'commonjs-typescript' || !new URL(url).pathname.endsWith('.ts') || result.source == null) return result;
      const text = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
      return hasModuleSyntax(text) ? { ...result, format: 'module-typescript' } : result;
    },
  });
}

/** Whether a line, outside comments, starts with an import or export statement (not `import(`). */
export function hasModuleSyntax(text: string): boolean {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return /^[ \t]*(?:import|export)\b(?![ \t]*\()/m.test(code);
}
