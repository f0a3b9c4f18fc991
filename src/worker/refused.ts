/**
 * The mark a refusal leaves on a response the app never began: the guard (limits.ts) sets it, and
 * the access log (access-log.ts) reads it when the response closes.
 */
import type { ServerResponse } from 'node:http';

/** The status a refusal written on the response's socket in its place gave it, or 0 when its request
 *  was dropped after a refusal (never answered). */
const REFUSED = Symbol('refused');
type Refusable = ServerResponse & { [REFUSED]?: number };

export const markRefused = (res: ServerResponse, status: number): void => {
  (res as Refusable)[REFUSED] = status;
};
export const markDropped = (res: ServerResponse): void => markRefused(res, 0);

/** For the access log: the status a refusal gave a response never begun, and whether it is the
 *  response of a dropped request, which has no line. */
export const refusedStatus = (res: ServerResponse): number | undefined => (res as Refusable)[REFUSED] || undefined;
export const dropped = (res: ServerResponse): boolean => (res as Refusable)[REFUSED] === 0;
