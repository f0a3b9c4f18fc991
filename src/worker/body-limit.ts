/** --limit-request-body for a body whose length is not known in advance (chunked, HTTP/2). */
import type { IncomingMessage } from 'node:http';
import { inherited } from './own';

/**
 * The server's request class when bodies are limited: it counts the body bytes the parser hands
 * over and, past `limit`, stops taking them and calls `over` (a chunked body; a longer
 * Content-Length was refused before the app saw the request). Counting in `push` leaves the stream
 * as the app uses it: no listener, no flowing mode. `push` is the request's own (own.ts), so a
 * framework that replaces the request's prototype (Express) cannot lift the limit.
 */
export function bodyCounting<T extends Pushing>(base: T, limit: number, over: (req: IncomingMessage) => void): T {
  function push(this: Counting, chunk: unknown, encoding?: BufferEncoding): boolean {
    // Over already: the connection (or the HTTP/2 stream) is closing, and what comes is
    // thrown away. Taken (true), not refused: a refusal would pause an HTTP/2 stream, which
    // then never drains to its end and closes.
    if (this.bodyBytes > limit) return true;
    if (chunk !== null) {
      this.bodyBytes += (chunk as Buffer).length;
      if (this.bodyBytes > limit) {
        over(this as unknown as IncomingMessage);
        return false;
      }
    }
    return inherited(this, 'push').call(this, chunk, encoding);
  }

  return class BodyCountingRequest extends base {
    bodyBytes = 0;

    // biome-ignore lint/suspicious/noExplicitAny: a mixin's constructor must take any[] (TypeScript's rule)
    constructor(...args: any[]) {
      super(...args);
      this.push = push;
    }
  };
}

type Counting = InstanceType<Pushing> & { bodyBytes: number };

/** A request class whose body the parser hands over through `push`: node:http's IncomingMessage,
 *  node:http2's Http2ServerRequest. */
// biome-ignore lint/suspicious/noExplicitAny: a mixin's base class type must take any[] (TypeScript's rule)
export type Pushing = new (...args: any[]) => { push(chunk: unknown, encoding?: BufferEncoding): boolean };
