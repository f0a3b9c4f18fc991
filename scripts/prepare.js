'use strict';
// npm runs `prepare` on `npm install` in a checkout, before `npm pack` and `npm publish`, and when an
// app installs this package from a git URL or a directory; `npm run build` follows it. dist/ is
// built afresh: a file left by an earlier build (a removed plugin, still loadable by name) must not
// be packed.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
try {
  require.resolve('typescript', { paths: [root] });
} catch {
  // npm installs a git URL's dev dependencies before preparing it, but none of a linked directory's.
  process.stderr.write(
    `unicorn-server: cannot build ${root}: its dev dependency typescript is not installed; run \`npm install\` in ${root}\n`,
  );
  process.exit(1);
}
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
