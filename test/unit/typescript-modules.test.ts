import { hasModuleSyntax } from '../../src/shared/typescript-modules';

describe('which TypeScript in a CommonJS package is loaded as an ES module', () => {
  it.each([
    ['export default', 'export default function handler() {}'],
    ['a named export', 'const a = 1;\nexport { a };'],
    ['a type import', "import type { Server } from 'node:http';\nmodule.exports = 1;"],
    ['a side-effect import', "import './setup.ts';"],
    ['import.meta', 'const here = import.meta.dirname;\n  import.meta;'],
    ['an indented export', '  export const a = 1;'],
  ])('%s: yes', (_what, text) => {
    expect(hasModuleSyntax(text)).toBe(true);
  });

  it.each([
    ['module.exports', 'module.exports = (req, res) => res.end();'],
    ['a dynamic import', "const m = await import('./x.js');\nimport('./y.js');"],
    ['the words in comments', '// export default x\n/* import a from "b";\nexport c */\nmodule.exports = 1;'],
    ['the words inside a line', "const s = 'export default';\nconst t = `x import y`;"],
    ['a longer word', 'exports.a = 1;\nimported = 2;'],
  ])('%s: no', (_what, text) => {
    expect(hasModuleSyntax(text)).toBe(false);
  });
});
