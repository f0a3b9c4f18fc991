/** The workers: how many, of which class, with what handler shape, and how long they may take. */

import { DURATION_FORMS } from '../duration';
import { WORKER_CLASS_NAMES, WORKER_CLASSES, type WorkerClass } from '../worker-classes';
import { formatWorkers, parseWorkers, WORKERS_FORMS, type WorkerBounds } from '../worker-count';
import { choice, duration, wholeNumber } from './parsers';
import { spec } from './spec';

export type { WorkerClass };
export type HandlerInterface = 'auto' | 'node' | 'fetch';
/** Client certificates: not asked for; asked for (one given must verify); or required. */
export type CertReqs = 'none' | 'optional' | 'required';

/** The worker section. */
export const WORKER_SETTINGS = [
  spec({
    key: 'workers',
    flags: '-w, --workers <N|MIN:MAX|auto>',
    section: 'worker',
    description:
      'number of worker processes: N; MIN:MAX, a count that follows the load between those bounds (docs/elastic.md, the --scale-* ' +
      'settings; it starts at MIN, at least 1); or auto, one per CPU this process may use (its CPU affinity, capped by a cgroup ' +
      'CPU quota, rounded up)',
    accepted: WORKERS_FORMS,
    env: 'WEB_CONCURRENCY',
    parse: (raw) => parseWorkers(raw),
    defaultValue: (): WorkerBounds => ({ min: 1, max: 1, by: 'count' }),
    defaultText: '$WEB_CONCURRENCY, else 1',
    display: formatWorkers,
  }),
  spec({
    key: 'workerClass',
    flags: '-k, --worker-class <CLASS>',
    section: 'worker',
    description: WORKER_CLASS_NAMES.map((name) => `${name}: ${WORKER_CLASSES[name]}`).join('; '),
    accepted: `${WORKER_CLASS_NAMES.slice(0, -1).join(', ')} or ${WORKER_CLASS_NAMES.at(-1)}`,
    parse: choice<WorkerClass>(...WORKER_CLASS_NAMES),
    defaultValue: () => 'sync' as const,
    defaultText: 'sync',
  }),
  spec({
    key: 'workerConnections',
    flags: '--worker-connections <N>',
    section: 'worker',
    description:
      'async only: open connections per worker; past it new connections wait in the backlog, and each response closes its connection so that they take turns. Each connection is a file descriptor: ' +
      'a worker takes at most the open-file limit (ulimit -n) less 64, and the arbiter warns at start when that is fewer',
    accepted: 'a whole number of at least 1',
    onlyFor: 'async' satisfies WorkerClass,
    parse: wholeNumber(1),
    defaultValue: () => 1000,
    defaultText: '1000',
  }),
  spec({
    key: 'keepAlive',
    flags: '--keep-alive <DURATION>',
    section: 'worker',
    description: 'async only: how long an idle keep-alive connection is kept open',
    accepted: DURATION_FORMS,
    onlyFor: 'async' satisfies WorkerClass,
    parse: duration,
    defaultValue: () => 5000,
    defaultText: '5s',
  }),
  spec({
    key: 'timeout',
    flags: '-t, --timeout <DURATION>',
    section: 'worker',
    description:
      'a worker silent for longer than this is killed and replaced, its stack logged; sync: also the limit of one request; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'workerBootTimeout',
    flags: '--worker-boot-timeout <DURATION>',
    section: 'worker',
    description: 'a worker that has not loaded the app and started serving by then is killed; 0 disables',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 60_000,
    defaultText: '60s',
  }),
  spec({
    key: 'bootAttempts',
    flags: '--boot-attempts <N>',
    section: 'worker',
    description:
      'boot attempts in a row that may time out (--worker-boot-timeout) before the server stops with exit code 3, naming what the app waits on, while no worker has been ready yet; once one has been, boot timeouts are retried with backoff; 0 retries for ever',
    accepted: 'a whole number (0 for no limit)',
    parse: wholeNumber(0),
    defaultValue: () => 3,
    defaultText: '3',
  }),
  spec({
    key: 'gracefulTimeout',
    flags: '--graceful-timeout <DURATION>',
    section: 'worker',
    description: 'on a graceful stop, how long in-flight requests may take before workers are killed',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'interface',
    flags: '--interface <KIND>',
    section: 'worker',
    description: 'the handler shape: node (req, res), fetch (Request => Response), or auto-detect',
    accepted: 'auto, node or fetch',
    parse: choice<HandlerInterface>('auto', 'node', 'fetch'),
    defaultValue: () => 'auto' as const,
    defaultText: 'auto',
  }),
] as const;
