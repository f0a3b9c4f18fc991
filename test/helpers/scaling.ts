/** Servers with an adaptive worker count (--workers MIN:MAX), for the tests of docs/elastic.md. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { APPS, start, type Unicorn } from './unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/** A server with its control socket, once `ready` workers are. */
export async function serveWithSocket(
  args: string[],
  ready: number,
  env: NodeJS.ProcessEnv = {},
): Promise<{ unicorn: Unicorn; socket: string }> {
  const socket = path.join(mkdtempSync(path.join(tmpdir(), 'unicorn-adaptive-')), 'ctl.sock');
  const unicorn = start(['-b', '127.0.0.1:0', '--control-socket', socket, ...args, ROUTES], { env });
  await unicorn.ready(ready);
  return { unicorn, socket };
}

/** The log line of a change of the count by the load, from `from` workers, whose reason matches `pattern`. */
export const scaling = (unicorn: Unicorn, from: number, pattern: string) => {
  const line = new RegExp(`^Scaling ${from} → \\d workers?: ${pattern}$`);
  return unicorn.waitForLog((l) => line.test(l.msg), `a change from ${from} workers`, 30_000);
};
