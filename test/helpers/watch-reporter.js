// watchForReload (the compiled module) in a process of its own, for test/unit/watch.test.ts:
// chokidar is an ES module, which Jest's module system loads only under --experimental-vm-modules,
// while plain Node requires it as the arbiter will. Options come as JSON in argv[2]; every report
// is a message: { type: 'ready' }, { type: 'changed', files }, { type: 'error', message }, and
// { type: 'closed' } once the 'close' message has closed the watcher. Exits with its parent.
'use strict';
const { watchForReload } = require('../../dist/src/arbiter/watch.js');

const watcher = watchForReload({
  ...JSON.parse(process.argv[2]),
  onChange: (files) => process.send({ type: 'changed', files }),
  onError: (err) => process.send({ type: 'error', message: err.message }),
});
watcher.ready.then(() => process.send({ type: 'ready' }));
process.on('message', async (message) => {
  if (message.type !== 'close') return;
  await watcher.close();
  process.send({ type: 'closed' });
});
process.on('disconnect', () => process.exit(0));
