import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { inherited } from './own';

type HeaderList = Parameters<ServerResponse['writeHead']>[1];

/** node:http's own parts of a response that the worker's response class reads and sets. */
type NodeResponse = ServerResponse & {
  /** Writes the head, once per response, from every path (writeHead, a first write, end). */
  _storeHeader(firstLine: string, headers: HeaderList | null): void;
  /** The app removed the Connection header: Node then writes none. */
  _removedConnection: boolean;
};

/**
 * The worker's ServerResponse: while `mustClose()` (sync, `--keep-alive 0`, draining) every
 * response ends its connection, whatever the app does, and while shedding, the responses of the
 * connections shed (classes/async.ts). Where node:http settles it, in `_storeHeader`, Node's own
 * flag `shouldKeepAlive` is set false and a `Connection` header the app set (a proxied upstream's
 * `keep-alive`) or removed is dropped, so that Node writes `Connection: close` and closes the
 * connection after the response. `_storeHeader` is each response's own
 * (own.ts): an app that replaces the response's prototype (Express) keeps it.
 */
export function responseClass(mustClose: (socket: Socket | null) => boolean): typeof ServerResponse {
  const isConnection = (name: unknown) => typeof name === 'string' && name.length === 10 && name.toLowerCase() === 'connection';
  // writeHead's headers as given, when nothing was set before it: copied without Connection.
  const withoutConnection = (headers: HeaderList | null): HeaderList | null => {
    if (Array.isArray(headers)) {
      // [name, value] pairs, or flat: name, value, name, value…
      const list = headers as unknown[];
      const pairs = Array.isArray(list[0]);
      const nameAt = (i: number) => (pairs ? (list[i] as unknown[])[0] : list[i - (i % 2)]);
      return list.filter((_, i) => !isConnection(nameAt(i))) as HeaderList;
    }
    if (headers && typeof headers === 'object') {
      for (const name in headers) {
        if (isConnection(name)) return Object.fromEntries(Object.entries(headers).filter(([key]) => !isConnection(key)));
      }
    }
    return headers;
  };
  function storeHeader(this: NodeResponse, firstLine: string, headers: HeaderList | null): void {
    if (mustClose(this.socket)) {
      this.shouldKeepAlive = false;
      // Headers set before or by writeHead are the response's own, which node:http passes here.
      if (this.hasHeader('connection')) this.removeHeader('connection');
      else headers = withoutConnection(headers);
      this._removedConnection = false;
    }
    inherited(this, '_storeHeader').call(this, firstLine, headers);
  }

  return class UnicornResponse extends (http.ServerResponse as unknown as new (req: IncomingMessage, options?: object) => NodeResponse) {
    constructor(req: IncomingMessage, options?: object) {
      super(req, options);
      this._storeHeader = storeHeader;
    }
  } as unknown as typeof ServerResponse;
}
