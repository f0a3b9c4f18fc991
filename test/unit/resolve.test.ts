import path from 'node:path';
import { resolveModule } from '../../src/shared/resolve';

const APPS = path.resolve(__dirname, '..', 'fixtures', 'apps');
const file = (spec: string, cwd = APPS) => {
  const r = resolveModule(spec, cwd);
  return 'file' in r ? path.relative(APPS, r.file) : r;
};

describe('resolveModule', () => {
  it('finds files with and without extension, relative or bare', () => {
    expect(file('./routes.js')).toBe('routes.js');
    expect(file('./routes')).toBe('routes.js');
    expect(file('routes')).toBe('routes.js');
    expect(file('typed')).toBe('typed.ts');
    expect(file('koa-app')).toBe('koa-app.mjs');
    expect(file(path.join(APPS, 'routes'))).toBe('routes.js');
  });

  it('finds a directory index, and one whose main names the directory itself', () => {
    expect(file('dir-app')).toBe('dir-app/index.js');
    expect(file('./main-self')).toBe('main-self/index.js');
  });

  it('finds installed packages, CommonJS and ESM-only', () => {
    expect(file('express')).toMatch(/node_modules\/express\/index\.js$/);
    expect(file('my-app', path.join(APPS, 'pkg-root'))).toBe('pkg-root/node_modules/my-app/server.js');
  });

  it('says where it looked when nothing is there', () => {
    expect(resolveModule('./nothing', APPS)).toEqual({ tried: [path.join(APPS, 'nothing')] });
    expect(resolveModule('nothing', APPS)).toEqual({ tried: [path.join(APPS, 'nothing'), 'the package "nothing"'] });
  });
});
