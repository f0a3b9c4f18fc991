/** Elastic workers: stopping them all when idle and starting them on the next connection, and the
 *  worker count following the load (docs/elastic.md). */

import { DURATION_FORMS } from '../duration';
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
      'next connection starts the workers again and is served by the first one ready; 0 for never',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0 (never)',
  }),
] as const;
