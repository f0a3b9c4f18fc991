/** Type-check files as an app's TypeScript would be (strict, NodeNext), for the config-typing tests. */
import path from 'node:path';
import ts from 'typescript';

/** Each error as `FILE: message`, FILE relative to `base`. */
export function typeErrors(files: string[], base: string, options: ts.CompilerOptions = {}): string[] {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    types: ['node'],
    ...options,
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? path.relative(base, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}
