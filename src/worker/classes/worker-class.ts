/**
 * What a worker class is (`--worker-class`, like Gunicorn's workers/base.py): how a worker accepts
 * connections and dispatches their requests, counts and describes the work in flight, holds its
 * heartbeat, and drains and hands connections back. The common server (server.ts) owns the HTTP
 * side (Node's server, the guard, the response class, the drain's bookkeeping) and calls a class only
 * through this interface. Each class is one file here, registered in registry.ts under its name
 * from the catalogue (config/worker-classes.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../shared/log';
import type { AcceptGate } from '../accept';

/** What the worker's supervision (main.ts) learns from the server and its class. */
export interface WorkerServerEvents {
  /** The server has served `maxRequests` requests. */
  onLimit(): void;
  /** A request the heartbeat is held for (holdsHeartbeat) starts, or is done. */
  onHeldRequest(): void;
  /** Send connections not started, unread, to the arbiter for a free worker; false, sending none,
   *  when there is no arbiter to take them. */
  handBack(sockets: Socket[], why: 'busy' | 'stopping'): boolean;
  /** Tell the arbiter the worker is free (`stopping`: and has nothing left to serve), which answers
   *  with adopt() or noConnection(); false when there is no arbiter to ask. */
  free(stopping: boolean): boolean;
}

/** The settings a worker class reads. */
export interface WorkerClassOptions {
  workerConnections: number;
  keepAlive: number;
}

/** What the common server gives a worker class to work with. */
export interface WorkerCore {
  readonly gate: AcceptGate;
  readonly events: WorkerServerEvents;
  readonly log: Logger;
  /** Connections given to the HTTP server and not closed yet. */
  readonly sockets: { readonly size: number };
  /** The drain has begun: nothing more is accepted, and every response closes its connection. */
  readonly draining: boolean;
  /** Give a connection to the HTTP server (its PROXY header read first, if one is due); `paused`:
   *  it arrived paused and unread, and is resumed. */
  open(socket: Socket, paused: boolean): void;
  /** The app's side of a request: counted, then the request hooks and the app. */
  readonly run: (req: IncomingMessage, res: ServerResponse) => void;
  /** Connections with a response being written, and HTTP/2 streams in flight. */
  responding(): number;
  /** Nothing is left to serve: the drain is over (once takes of the queue under way are done). */
  drained(): void;
}

/** One worker's instance of its class, made by the common server. */
export interface WorkerClassBehaviour {
  /** Start accepting. */
  start(): void;
  /** A connection the gate accepted (paused and unread when the class has `pausedAccept`). */
  accepted(socket: Socket): void;
  /** A connection the arbiter passed: another worker's, paused and unread. */
  adopt(socket: Socket): void;
  /** Takes each request the guard hands over, and gives it to `core.run` when its turn comes. */
  readonly dispatch: (req: IncomingMessage, res: ServerResponse) => void;
  /** After each batch the guard hands over, before the worker polls for connections again. */
  readonly afterHandOver?: () => void;
  /** This response ends its connection (draining aside, which the server adds). */
  mustClose(socket: Socket | null | undefined): boolean;
  /** A connection closed (the server has stopped counting it). */
  connectionClosed(socket: Socket): void;
  /** Requests in flight, for the heartbeat: counted when asked, so that counting costs nothing per request. */
  inFlight(): number;
  /** The work in flight, as a timeout's diagnosis reports it. */
  describeInFlight(): string[];
  /** The heartbeat waits while this is true: --timeout then limits each request. */
  holdsHeartbeat(): boolean;
  /** The arbiter holds connections handed back: take one once free. */
  holding(): void;
  /** The arbiter's answer to `free` when it holds nothing for this worker. */
  noConnection(): void;
  /** The arbiter's balancing: keep `keep` connections and move the rest to other workers. */
  shed(keep: number): void;
  /** The drain begins: the gate is closing, and timers that would open it again are stopped. */
  drainBegins(): void;
  /** The gate has closed, or a later take of the queue is over: finish what is left, and call
   *  `core.drained()` once nothing is. */
  acceptingEnded(): void;
}

/** A worker class: its constructor, and what is fixed for every worker of the class. */
export interface WorkerClassType {
  new (core: WorkerCore, options: WorkerClassOptions): WorkerClassBehaviour;
  /** The gate hands connections over paused, nothing read, so that one not started can still go
   *  back to the arbiter whole. */
  readonly pausedAccept: boolean;
  /** With --http2: a connection serves one stream at a time. */
  readonly oneStreamAtATime: boolean;
}
