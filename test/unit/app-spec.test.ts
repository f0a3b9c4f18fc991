import { parseAppSpec } from '../../src/config/app-spec';

describe('parseAppSpec', () => {
  it.each([
    ['app', { module: 'app', exportPath: [] }],
    ['./srv/app.js', { module: './srv/app.js', exportPath: [] }],
    ['app:handler', { module: 'app', exportPath: ['handler'] }],
    ['app:server.handler', { module: 'app', exportPath: ['server', 'handler'] }],
    ['app:createApp()', { module: 'app', exportPath: ['createApp'], factoryArgs: [] }],
    ['app:lib.build("prod", 4, {"a": true})', { module: 'app', exportPath: ['lib', 'build'], factoryArgs: ['prod', 4, { a: true }] }],
    ['@scope/pkg:$handler_2', { module: '@scope/pkg', exportPath: ['$handler_2'] }],
  ])('parses %s', (raw, expected) => {
    expect(parseAppSpec(raw)).toEqual({ raw, ...expected });
  });

  it.each([
    ['', /module is missing/],
    [':app', /module is missing/],
    ['app:', /export after ":" is missing/],
    ['app:1abc', /"1abc" is not a JavaScript identifier/],
    ['app:a..b', /"" is not a JavaScript identifier/],
    ['app:create(prod)', /must be JSON literals/],
  ])('refuses %j', (raw, reason) => {
    expect(parseAppSpec(raw)).toMatch(reason);
  });
});
