/**
 * What a start or a reload allocates (the command line's parser, the config file and plugins read,
 * the forks) is garbage once the workers are ready, but an idle arbiter allocates too little for V8
 * ever to collect it and give its pages back: it stays resident for the arbiter's life (about 3 MB,
 * benchmarks/RESULTS.md). It is collected once then, all of it, in some 20 ms.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type CollectGarbage = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export function collectGarbage(): void {
  // V8 gives gc() to the contexts made while --expose-gc is set: to one made for this call only,
  // not to the arbiter's own nor to one a plugin makes later.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as CollectGarbage;
  setFlagsFromString('--no-expose-gc');
  // The most thorough collection: it compacts the heap and releases the pages it empties.
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
