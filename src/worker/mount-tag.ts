/**
 * Which mount served a request (worker/site.ts): an app's prefix, or `static:PREFIX` for a static
 * directory, marked on the request for the access log and counted for `ctl status`.
 */
import type { IncomingMessage } from 'node:http';

export interface MountState {
  /** As the access log and `ctl status` name it. */
  name: string;
  prefix: string;
  /** Requests it has served in this worker. */
  served: number;
}

export const MOUNT = Symbol('unicorn mount');

export type Tagged = IncomingMessage & { [MOUNT]?: MountState };

/** The mount that served the request: undefined when none did (no mount matched, or it was refused first). */
export const mountOf = (req: IncomingMessage | undefined): string | undefined => (req as Tagged | undefined)?.[MOUNT]?.name;
