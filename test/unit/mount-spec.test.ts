import { appMounts, parseMount, parsePrefix, parseStatic, repeatedPrefix } from '../../src/config/mount-spec';

describe('a mount prefix', () => {
  it.each([
    ['/', '/'],
    ['/api', '/api'],
    ['/api/', '/api'],
    [' /api/v2 ', '/api/v2'],
    ["/a-b.c_d~e!$&'()*+,;=:@", "/a-b.c_d~e!$&'()*+,;=:@"],
  ])('%j is %j', (raw, prefix) => {
    expect(parsePrefix(raw)).toBe(prefix);
  });

  it.each([
    ['api', 'does not start with /'],
    ['', 'does not start with /'],
    ['//api', 'has an empty segment'],
    ['/api//v2', 'has an empty segment'],
    ['/api/../etc', 'has a .. segment'],
    ['/./api', 'has a . segment'],
    ['/a%2fb', 'cannot hold as written'],
    ['/a b', 'cannot hold as written'],
    ['/a?b', 'cannot hold as written'],
    ['/a#b', 'cannot hold as written'],
    ['/a\\b', 'cannot hold as written'],
  ])('%j is refused: %s', (raw, why) => {
    expect(parsePrefix(raw)).toEqual({ refused: expect.stringContaining(why) });
  });
});

describe('--mount and --static values', () => {
  it('splits at the first =, and names the app by its mount in messages', () => {
    expect(parseMount('/api=lib/api.js:create("x=1")')).toEqual({
      prefix: '/api',
      app: { raw: '/api=lib/api.js:create("x=1")', module: 'lib/api.js', exportPath: ['create'], factoryArgs: ['x=1'] },
    });
    expect(parseStatic('/assets/=public', '/srv/app')).toEqual({ prefix: '/assets', dir: '/srv/app/public' });
  });

  it.each([
    ['api.js', 'there is no ='],
    ['/api=', 'nothing is named after /api='],
    ['api=api.js', 'does not start with /'],
    ['/api=api.js:1x', 'the app "api.js:1x": "1x" is not a JavaScript identifier'],
  ])('%j is refused: %s', (raw, why) => {
    expect(parseMount(raw)).toEqual({ refused: expect.stringContaining(why) });
  });

  it('finds a prefix given twice, and puts the app at / first among the apps', () => {
    expect(
      repeatedPrefix([
        { prefix: '/a', n: 1 },
        { prefix: '/b', n: 2 },
        { prefix: '/a', n: 3 },
      ]),
    ).toEqual([
      { prefix: '/a', n: 1 },
      { prefix: '/a', n: 3 },
    ]);
    expect(repeatedPrefix([{ prefix: '/a' }, { prefix: '/a/b' }])).toBeUndefined();
    const api = parseMount('/api=api.js');
    if ('refused' in api) throw new Error(api.refused);
    const root = { raw: 'site.js', module: 'site.js', exportPath: [] };
    expect(appMounts({ app: root, mounts: [api] })).toEqual([{ prefix: '/', app: root }, api]);
    expect(appMounts({ app: undefined, mounts: [api] })).toEqual([api]);
  });
});
