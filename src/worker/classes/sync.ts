/**
 * The `sync` worker class: one request at a time, `Connection: close` on every response.
 *
 * Connections arrive paused and wait unread until the worker starts them, one at a time. A request
 * still in flight after the event-loop turn it arrived in pauses the gate until it is done, so new
 * connections go to other workers instead of queuing behind it, and hands the connections not
 * started back to the arbiter (hand-back.ts), which passes each to a free worker: a busy worker holds
 * only the request it started. While requests are slow on average (and before the first one has
 * been timed), the worker also pauses as soon as it accepts a connection, so that a burst of clients
 * is spread over the workers by the kernel, without handing back. While requests are fast a burst is
 * cheaper to serve than to spread, and pausing (which costs a round trip to the arbiter) is skipped.
 *
 * The heartbeat waits while a request is in flight, which makes --timeout its per-request limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WorkerClassBehaviour, WorkerCore } from './worker-class';

/** While requests take this long on average, the worker accepts one connection at a time. */
const SLOW_REQUEST_MS = 5;
/** The weight of the latest request in that average, and the most one request counts for. One
 *  request held up by the scheduler on a loaded machine must not make a fast app look slow. */
const SERVICE_TIME_WEIGHT = 0.2;
const SERVICE_TIME_CAP_MS = 4 * SLOW_REQUEST_MS;
/** A request this long makes clients it holds up wait noticeably. After a second one within
 *  SLOW_REQUEST_MEMORY_MS of the one before, the worker takes one connection at a time for that long,
 *  whatever the average says. An app whose occasional request holds the CPU for 100 ms is fast on
 *  average; without this, a connection accepted just before such a request waits it out. One such
 *  request alone (a cold first call of a route) does not switch the worker over, and a fast
 *  request the scheduler held up on a loaded machine seldom takes this long, let alone twice. */
const HOLDING_REQUEST_MS = 50;
const SLOW_REQUEST_MEMORY_MS = 10_000;
/** After starting a connection, how long the worker waits for its request before it starts
 *  another, or (taking one connection at a time) accepts again (a client that connects early and
 *  sends nothing must not hold it). */
const IDLE_CONNECTION_GRACE_MS = 100;
/** How long a free worker waits for the arbiter's answer to `free` before it accepts again. The
 *  arbiter answers at once unless it is stopped or frozen; clients must not wait that out. */
const ARBITER_ANSWER_MS = 100;

export class SyncWorker implements WorkerClassBehaviour {
  static readonly pausedAccept = true;
  static readonly oneStreamAtATime = true;

  /** A request is being handled. */
  private busy = false;
  /** The request being handled and when it started, for a timeout's diagnosis. */
  private current: IncomingMessage | undefined;
  private currentStarted = 0;
  /** Requests that arrived while busy (an accept that raced the pause, or pipelining). */
  private readonly waiting: Array<[IncomingMessage, ServerResponse]> = [];
  /** Moving average of request durations (ms); unknown until the first request is done. */
  private serviceMs: number | undefined;
  /** When the last request that took HOLDING_REQUEST_MS or longer ended, and until when the worker
   *  takes one connection at a time because of such requests. */
  private slowSeenAt = -Infinity;
  private carefulUntil = -Infinity;
  /** Connections accepted, or passed by the arbiter, and not given to the HTTP server yet: paused
   *  with nothing read, so that each can still go back to the arbiter whole. */
  private readonly unstarted: Socket[] = [];
  /** The connection started last, while its first request is awaited; when it was started, and the
   *  timer that ends the wait. */
  private starting: Socket | undefined;
  private startedAt = -Infinity;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Handed back, was passed a connection or was told the arbiter holds some, since it last told the
   *  arbiter it is free. */
  private owesFree = false;
  /** Told the arbiter it is free, and takes no connection of its own until the answer (or the
   *  timer's end: ARBITER_ANSWER_MS). */
  private askedArbiter = false;
  private answerTimer: NodeJS.Timeout | undefined;

  constructor(private readonly core: WorkerCore) {}

  start(): void {
    this.update();
  }

  accepted(socket: Socket): void {
    // Pausing here closes the copy before the next poll accepts on it (libuv accepts one connection
    // per listener and poll): the rest of a burst goes elsewhere.
    if (this.isSlow()) this.core.gate.pause();
    this.unstarted.push(socket);
    this.update();
  }

  /** It goes before the worker's own, which are newer, and the worker asks for the next once free;
   *  it may come after the wait for the answer has ended. */
  adopt(socket: Socket): void {
    this.stopWaitingForArbiter();
    this.owesFree = true;
    this.unstarted.unshift(socket);
    this.update();
  }

  holding(): void {
    this.owesFree = true;
    this.update();
  }

  noConnection(): void {
    if (!this.askedArbiter) return;
    this.stopWaitingForArbiter();
    if (this.core.draining && this.core.sockets.size === 0 && this.unstarted.length === 0) this.core.drained();
    else this.update();
  }

  /** Sync workers keep no connection past its response: there is nothing to shed. */
  shed(): void {}

  readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.busy) this.waiting.push([req, res]);
    else this.run(req, res);
  };

  /** A request still in flight once handed over pauses the gate before the worker polls for
   *  connections again; a poll first would accept one more, to wait behind that request. */
  readonly afterHandOver = (): void => {
    if (this.busy) this.update();
  };

  mustClose(): boolean {
    return true;
  }

  connectionClosed(socket: Socket): void {
    if (socket === this.starting) this.starting = undefined;
    this.update();
  }

  inFlight(): number {
    return (this.busy ? 1 : 0) + this.waiting.length;
  }

  describeInFlight(): string[] {
    const req = this.current;
    return req ? [`${req.method} ${req.url} (running for ${Math.round(performance.now() - this.currentStarted)}ms)`] : [];
  }

  holdsHeartbeat(): boolean {
    return this.busy;
  }

  drainBegins(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /** What has not started goes back to the arbiter (for a free worker), and once the last connection
   *  is done the arbiter is asked whether it holds any (update). */
  acceptingEnded(): void {
    this.handBack('stopping');
    this.update();
  }

  private run(req: IncomingMessage, res: ServerResponse): void {
    this.busy = true;
    // Its first request has come (or another's): the next connection waits for this one's end.
    this.starting = undefined;
    const started = performance.now();
    this.current = req;
    this.currentStarted = started;
    this.core.events.onHeldRequest();
    this.core.run(req, res);
    if (res.writableEnded) {
      this.done(started);
      return;
    }
    // Still busy once handed over: afterHandOver pauses the gate, or done's loop.
    res.once('close', () => this.done(started));
  }

  private done(started: number): void {
    const now = performance.now();
    if (now - started >= HOLDING_REQUEST_MS) {
      if (now - this.slowSeenAt < SLOW_REQUEST_MEMORY_MS) this.carefulUntil = now + SLOW_REQUEST_MEMORY_MS;
      this.slowSeenAt = now;
    }
    const took = Math.min(now - started, SERVICE_TIME_CAP_MS);
    this.serviceMs = this.serviceMs === undefined ? took : this.serviceMs + SERVICE_TIME_WEIGHT * (took - this.serviceMs);
    this.busy = false;
    this.current = undefined;
    this.core.events.onHeldRequest();
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      const [req, res] = next;
      // A request pipelined behind one whose response closed the connection (every sync response
      // does) can get no answer: the app does not run it, and its response closes with the socket.
      if (res.destroyed || req.socket.destroyed || !req.socket.writable) continue;
      this.run(req, res);
      if (this.busy) {
        // Still busy once the events that came with this one are handled: stop taking connections.
        setImmediate(() => {
          if (this.busy) this.update();
        });
        return;
      }
    }
    this.update();
  }

  /** Requests are slow on average, or not timed yet: take one connection at a time. */
  private isSlow(): boolean {
    return this.serviceMs === undefined || this.serviceMs >= SLOW_REQUEST_MS || performance.now() < this.carefulUntil;
  }

  /**
   * What the worker does next, from its state. Busy past the turn its request arrived in, it stops
   * accepting and hands back what it has not started: that would wait for the request. Free, it
   * starts the next connection; with none left, it tells the arbiter it is free if it owes that (and
   * takes the arbiter's connection first), or else accepts. While a started connection's first
   * request is awaited, the next waits (for at most the grace).
   */
  private update(): void {
    const { gate, draining } = this.core;
    if (this.busy) {
      gate.pause();
      this.handBack(draining ? 'stopping' : 'busy');
      return;
    }
    if (this.askedArbiter) return;
    const graceLeft = this.starting ? IDLE_CONNECTION_GRACE_MS - (performance.now() - this.startedAt) : 0;
    if (graceLeft > 0) {
      this.armGrace(Math.ceil(graceLeft));
      // Fast on average, the worker accepts meanwhile: what it accepts waits unread, and goes back
      // to the arbiter if the request turns out to outlive its turn.
      if (this.isSlow()) gate.pause();
      else gate.resume();
      return;
    }
    const next = this.unstarted.shift();
    if (next) {
      this.startConnection(next);
      this.update();
    } else if (this.owesFree || (draining && this.core.sockets.size === 0)) {
      // Draining with nothing left: the arbiter may hold connections only stopping workers will
      // serve (the server is shutting down).
      this.askArbiter();
    } else if (!draining) {
      gate.resume();
    }
  }

  /** Give a connection to the HTTP server, which reads it from now on. */
  private startConnection(socket: Socket): void {
    this.starting = socket;
    this.startedAt = performance.now();
    this.core.open(socket, true);
  }

  /** Look at the gate again in `ms`. A timer can fire a little early by the clock the grace is
   *  measured with (it counts from the event loop's cached time), so the check re-arms it until the
   *  grace is really over; a worker left paused with only idle connections would never accept again. */
  private armGrace(ms: number): void {
    this.graceTimer ??= setTimeout(() => {
      this.graceTimer = undefined;
      this.update();
    }, ms);
  }

  /** Send what has not started to the arbiter (kept, to serve here, if there is none). */
  private handBack(why: 'busy' | 'stopping'): void {
    if (this.unstarted.length === 0) return;
    if (!this.core.events.handBack(this.unstarted, why)) return;
    this.unstarted.length = 0;
    this.owesFree = true;
  }

  /** Tell the arbiter the worker is free, and accept nothing until it answers, or for
   *  ARBITER_ANSWER_MS: a stopped or frozen arbiter must not stop the worker serving. A stopping
   *  worker accepts nothing anyway, and waits for the answer as long as it takes. */
  private askArbiter(): void {
    const { gate, events } = this.core;
    gate.pause();
    this.owesFree = false;
    if (events.free(this.core.draining)) {
      this.askedArbiter = true;
      if (this.core.draining) return;
      this.answerTimer = setTimeout(() => {
        this.answerTimer = undefined;
        // Stopping since it asked: it waits for the answer after all (noConnection ends the drain).
        if (this.core.draining) return;
        this.askedArbiter = false;
        this.update();
      }, ARBITER_ANSWER_MS);
    } else if (this.core.draining) {
      if (this.core.sockets.size === 0) this.core.drained();
    } else {
      gate.resume();
    }
  }

  /** The arbiter has answered `free`, or the wait for its answer is over. */
  private stopWaitingForArbiter(): void {
    this.askedArbiter = false;
    clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
  }
}
