/**
 * Node's module compile cache (Node 22.8 and later) for the process that loads this first: the
 * arbiter (bin/unicorn) and each worker (worker/main.ts) compile the same files of unicorn, pino
 * and commander at every start, and the code V8 caches on disk saves about a fifth of that
 * (benchmarks/RESULTS.md, start-up). What loads after it, the app included, is cached too.
 *
 * Where: NODE_COMPILE_CACHE if set, else node-compile-cache in the temporary directory, as Node
 * chooses; NODE_DISABLE_COMPILE_CACHE=1 turns it off. A directory that cannot be written only
 * leaves the cache empty.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
