/** When a worker is replaced: after so many requests, so much memory, or so long. */

import { DURATION_FORMS } from '../duration';
import { SIZE_FORMS } from '../size';
import { duration, size, wholeNumber } from './parsers';
import { spec } from './spec';

/** The recycling section. */
export const RECYCLING_SETTINGS = [
  spec({
    key: 'maxRequests',
    flags: '--max-requests <N>',
    section: 'recycling',
    description: 'replace a worker after it has served this many requests; 0 for no limit',
    accepted: 'a whole number (0 for no limit)',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxRequestsJitter',
    flags: '--max-requests-jitter <N>',
    section: 'recycling',
    description: 'add up to this many requests, at random per worker, to --max-requests',
    accepted: 'a whole number',
    parse: wholeNumber(0),
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerMemory',
    flags: '--max-worker-memory <SIZE>',
    section: 'recycling',
    description:
      'replace a worker whose resident memory passes this size (read by the arbiter every 100 ms: it stops accepting at once and drains; ' +
      'growing by a quarter of the limit more meanwhile gets it killed); 0 for no limit',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetime',
    flags: '--max-worker-lifetime <DURATION>',
    section: 'recycling',
    description: 'replace a worker after it has run this long; 0 for no limit',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
  spec({
    key: 'maxWorkerLifetimeJitter',
    flags: '--max-worker-lifetime-jitter <DURATION>',
    section: 'recycling',
    description: 'add up to this long, at random per worker, to --max-worker-lifetime',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0',
  }),
] as const;
