/**
 * How Node's HTTP parser is set up from the request limits: the header budget, the header timeout
 * and how often it is looked at, and the strict parser. RequestGuard (limits.ts) checks the rest.
 */
import type http from 'node:http';
import { MAX_REQUEST_FIELDS } from '../config/request-limits';
import type { Settings } from '../config/settings';

export type RequestLimits = Pick<
  Settings,
  'limitRequestLine' | 'limitRequestFields' | 'limitRequestFieldSize' | 'limitRequestBody' | 'headerTimeout'
>;

/** The field size the header budget assumes with `--limit-request-field-size 0`, as Gunicorn's does. */
const UNLIMITED_FIELD_BUDGET = 8190;
/** Node's own limit on a whole request (head and body), kept unless the header timeout is longer. */
const NODE_REQUEST_TIMEOUT_MS = 300_000;
/** How often Node looks for connections past the header timeout: a tenth of it, within these bounds
 *  (Node's default, 30 s, would let a 10 s timeout run to 40 s). Each look walks a list in C++. */
const CHECK_MIN_MS = 50;
const CHECK_MAX_MS = 1000;

/**
 * The limits as Node's http.Server options: the header budget, the header timeout and how often it
 * is looked at, and the strict parser (whatever `--insecure-http-parser` NODE_OPTIONS may carry).
 */
export function parserOptions(limits: RequestLimits): http.ServerOptions {
  return {
    maxHeaderSize: headerBudget(limits),
    headersTimeout: limits.headerTimeout,
    requestTimeout: Math.max(NODE_REQUEST_TIMEOUT_MS, limits.headerTimeout),
    connectionsCheckingInterval: checkingInterval(limits.headerTimeout),
    insecureHTTPParser: false,
    requireHostHeader: true,
  };
}

/** A tenth of the header timeout, within bounds; without one, only Node's request timeout is left
 *  to look for, and once a second is plenty. */
function checkingInterval(headerTimeout: number): number {
  if (headerTimeout === 0) return CHECK_MAX_MS;
  return Math.min(CHECK_MAX_MS, Math.max(CHECK_MIN_MS, Math.round(headerTimeout / 10)));
}

/**
 * Node's `maxHeaderSize` (what it counts: the target, header names and values): everything the
 * limits allow, as Gunicorn's header buffer is sized (fields × (field size + 2) + 4), plus the
 * request line. A head past it is refused by the parser as it arrives (431), before it is all read:
 * with the limits off (0), it is what bounds a head.
 */
export function headerBudget({ limitRequestLine, limitRequestFields, limitRequestFieldSize }: RequestLimits): number {
  const fields = limitRequestFields || MAX_REQUEST_FIELDS;
  return limitRequestLine + fields * ((limitRequestFieldSize || UNLIMITED_FIELD_BUDGET) + 2) + 4;
}
