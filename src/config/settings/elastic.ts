/** Elastic workers: stopping them all when idle and starting them on the next connection, and the
 *  worker count following the load (docs/elastic.md). */

import { badUsage } from '../../shared/errors';
import { DURATION_FORMS, formatDuration } from '../duration';
import { duration } from './parsers';
import { spec } from './spec';

/** The elastic section. */
export const ELASTIC_SETTINGS = [
  spec({
    key: 'idleTimeout',
    flags: '--idle-timeout <DURATION>',
    section: 'elastic',
    description:
      'stop every worker after this long without a request or an open connection; the arbiter keeps the sockets, and the ' +
      'next connection starts the workers again and is served by the first one ready; 0 for never; not with --reuse-port',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0 (never)',
  }),
] as const;

/**
 * --idle-timeout needs the shared sockets: while no worker runs the arbiter accepts on a copy of
 * each (docs/elastic.md), and --reuse-port's sockets are each a worker's own. `sources` names how
 * each was given (a flag, a config-file key).
 */
export function refuseIdleWithReusePort(
  settings: { idleTimeout: number; reusePort: boolean },
  sources: { idleTimeout: string; reusePort: string },
): void {
  if (settings.idleTimeout === 0 || !settings.reusePort) return;
  throw badUsage(
    `${sources.idleTimeout} ${formatDuration(settings.idleTimeout)} is not accepted with ${sources.reusePort}: ` +
      'scaling to zero accepts on the shared sockets while no worker runs, and --reuse-port gives each worker its own; use one or the other',
  );
}
