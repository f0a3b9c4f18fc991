/** Limits on what a request may be, and how long a client may take to send its head. */

import { DURATION_FORMS } from '../duration';
import { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from '../request-limits';
import { SIZE_FORMS } from '../size';
import { duration, size, wholeNumberUpTo } from './parsers';
import { spec } from './spec';

/** The security section. */
export const SECURITY_SETTINGS = [
  spec({
    key: 'limitRequestLine',
    flags: '--limit-request-line <BYTES>',
    section: 'security',
    description:
      'the longest request line (method, target and version) a request may have; a longer one is answered 414; 0 for no limit of its own',
    accepted: `a whole number from 0 (no limit) to ${MAX_REQUEST_LINE}`,
    parse: wholeNumberUpTo(0, MAX_REQUEST_LINE),
    defaultValue: () => 4094,
    defaultText: '4094',
  }),
  spec({
    key: 'limitRequestFields',
    flags: '--limit-request-fields <N>',
    section: 'security',
    description: `the most header fields a request may have; more are answered 431; 0 for the most there can be, ${MAX_REQUEST_FIELDS}`,
    accepted: `a whole number from 0 to ${MAX_REQUEST_FIELDS}`,
    parse: wholeNumberUpTo(0, MAX_REQUEST_FIELDS),
    defaultValue: () => 100,
    defaultText: '100',
  }),
  spec({
    key: 'limitRequestFieldSize',
    flags: '--limit-request-field-size <SIZE>',
    section: 'security',
    description:
      'the longest header field line (`Name: value` and its line end) a request may have; a longer one is answered 431; 0 for no limit of its own',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 8190,
    defaultText: '8190',
  }),
  spec({
    key: 'limitRequestBody',
    flags: '--limit-request-body <SIZE>',
    section: 'security',
    description:
      'the largest request body: a longer Content-Length is answered 413 before the app sees the request, a chunked body is cut off with 413 where it passes the limit; 0 for no limit',
    accepted: SIZE_FORMS,
    parse: size,
    defaultValue: () => 0,
    defaultText: '0 (no limit)',
  }),
  spec({
    key: 'headerTimeout',
    flags: '--header-timeout <DURATION>',
    section: 'security',
    description:
      "how long a client may take to send a request's line and headers, from its first byte (from the connection, for the first request); past it the request is answered 408 and its connection closed; with TLS, also how long the handshake may take; 0 disables",
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 10_000,
    defaultText: '10s',
  }),
] as const;
