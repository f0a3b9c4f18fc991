import { globBase, globToRegExp, isGlob } from '../../src/shared/glob';

const matches = (glob: string, file: string): boolean => {
  const matcher = globToRegExp(glob);
  if (!matcher) throw new Error(`${glob} did not compile`);
  return matcher.test(file);
};

describe('globs of --reload-extra-file', () => {
  it.each([
    ['/app/*.yaml', '/app/a.yaml', true],
    ['/app/*.yaml', '/app/.hidden.yaml', true],
    ['/app/*.yaml', '/app/sub/a.yaml', false],
    ['/app/*.yaml', '/app/a.yml', false],
    ['/app/**/*.yaml', '/app/a.yaml', true],
    ['/app/**/*.yaml', '/app/b/c/a.yaml', true],
    ['/app/**/*.yaml', '/apple/a.yaml', false],
    ['/app/**/*.yaml', '/app/a.yaml.bak', false],
    ['/app/**', '/app/b/c.js', true],
    ['/app/**', '/apple', false],
    ['/app/x**.js', '/app/xyz.js', true],
    ['/app/x**.js', '/app/x/y.js', false],
    ['/app/?.js', '/app/a.js', true],
    ['/app/?.js', '/app/ab.js', false],
    ['/app/{a,b/c}.js', '/app/b/c.js', true],
    ['/app/{a,b/c}.js', '/app/d.js', false],
    ['/app/{a,{b,c}d}.js', '/app/cd.js', true],
    ['/app/v1.2/*.js', '/app/v1x2/a.js', false],
    ['/app/*,}.js', '/app/a,}.js', true],
  ])('%s against %s: %s', (glob, file, expected) => {
    expect(matches(glob, file)).toBe(expected);
  });

  it('cannot compile an unclosed brace', () => {
    expect(globToRegExp('/app/*.{yaml,yml')).toBeUndefined();
  });

  it('watches the directory before the first glob character', () => {
    expect(globBase('/app/config/**/*.yaml')).toBe('/app/config');
    expect(globBase('/app/conf*/x.yaml')).toBe('/app');
    expect(globBase('/*.yaml')).toBe('/');
  });

  it('tells a glob from a plain path', () => {
    expect(isGlob('/app/config/*.yaml')).toBe(true);
    expect(isGlob('/app/{a,b}.js')).toBe(true);
    expect(isGlob('/app/config/settings (1).json')).toBe(false);
  });
});
