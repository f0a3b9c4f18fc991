/**
 * The layers, bottom up (docs/DESIGN.md, "Where to change what"): src/shared (leaves), src/config,
 * src/hooks (the hook contract), src/ipc.ts, src/vassal-ipc.ts and src/control (the protocols), the
 * three process roles src/arbiter, src/worker and src/emperor, then src/cli.ts. First-party plugins in hooks/ are written as a user
 * would write one. `npm run lint` fails on an import that goes up, across the roles, or in a circle.
 */
const upward = (layer, name, ...forbidden) => ({
  name: `${name}-imports-upward`,
  severity: 'error',
  from: { path: layer },
  to: { path: forbidden.join('|'), pathNot: '^src/(hooks/catalogue|control/paths)\\.ts$' },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'An import cycle, type-only imports included.', severity: 'error', from: {}, to: { circular: true } },
    upward('^src/shared/', 'shared', '^src/(config|hooks|control|arbiter|worker|emperor)/', '^src/(cli|ipc|vassal-ipc|index|define)\\.ts$'),
    // Two leaves config may read above it: the hook names a config file is checked against
    // (src/hooks/catalogue.ts) and where control sockets go (src/control/paths.ts, for --control-socket).
    upward('^src/config/', 'config', '^src/(hooks|control|arbiter|worker|emperor)/', '^src/(cli|ipc|vassal-ipc|index|define)\\.ts$'),
    upward('^src/hooks/', 'hooks', '^src/(control|arbiter|worker|emperor)/', '^src/(cli|index)\\.ts$'),
    upward('^src/(control/|ipc\\.ts$|vassal-ipc\\.ts$)', 'protocol', '^src/(arbiter|worker|emperor)/', '^src/(cli|index)\\.ts$'),
    {
      name: 'roles-apart',
      comment: 'The arbiter, the worker and the emperor share code through the layers below them only.',
      severity: 'error',
      from: { path: '^src/(arbiter|worker|emperor)/' },
      to: { path: '^src/(arbiter|worker|emperor)/', pathNot: '^src/$1/' },
    },
    {
      name: 'roles-below-cli',
      severity: 'error',
      from: { path: '^src/(arbiter|worker|emperor)/' },
      to: { path: '^src/(cli|index)\\.ts$' },
    },
    {
      name: 'plugins-use-the-contract',
      comment: 'A first-party plugin uses the hook contract, the settings parsers and shared leaves: no process internals.',
      severity: 'error',
      from: { path: '^hooks/' },
      to: { path: '^src/(arbiter|worker|emperor|control)/|^src/cli\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
