/** Requests pipelined on one connection: what Node 22 leaves undone for those it never answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** On a connection with responses queued behind another: those not yet closed. */
const QUEUED = Symbol('queued');
type QueueingSocket = Socket & { _httpMessage?: unknown; [QUEUED]?: Set<ServerResponse> };
type Closable = ServerResponse & { _closed?: boolean };

/**
 * A response queued behind another on its connection (pipelining) whose connection closes first can
 * get no answer. Node 24 closes it with the socket; Node 22 never does, so its 'close' (the access
 * log's line, the post-request hook, sync's next turn) would never come: it is closed here when
 * Node has not, as Node would. One property read for every other response; one socket listener for
 * a connection's queue, however long.
 */
export function closeIfQueued(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as QueueingSocket;
  if (!socket._httpMessage || socket._httpMessage === res) return;
  let queued = socket[QUEUED];
  if (!queued) {
    queued = socket[QUEUED] = new Set();
    const waiting = queued;
    socket.once('close', () => setImmediate(closeQueued, waiting));
  }
  queued.add(res);
  res.once('close', () => queued.delete(res));
}

function closeQueued(queued: Set<ServerResponse>): void {
  for (const res of queued) {
    if (res.closed) continue;
    (res as Closable).destroyed = true;
    (res as Closable)._closed = true;
    res.emit('close');
  }
  queued.clear();
}
