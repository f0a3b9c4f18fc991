/**
 * The lifecycle-hook interface: what hooks receive and what a plugin or config file exports.
 * docs/hooks.md describes when each hook runs, in which process, and what its failure does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings';
import type { HookName } from './catalogue';

type Awaitable<T> = T | Promise<T>;

/** Where a worker is in its life, as the arbiter sees it. */
export type WorkerState = 'booting' | 'ready' | 'retiring' | 'stopping' | 'exited';

/**
 * Why a worker left, or was told to:
 * - `crash`: it exited on its own, or was killed by someone else;
 * - `boot-failed`: it exited while booting because the app (or a hook) failed to load;
 * - `timeout` / `boot-timeout`: the arbiter killed it for --timeout / --worker-boot-timeout;
 * - `max-requests` / `max-memory` / `max-lifetime`: recycled;
 * - `reload`: replaced by a reload (HUP, --reload); `reload-failed`: a new worker of a reload that failed;
 * - `scale-down`: TTOU, WINCH or a smaller --workers; `shutdown`: the server stopped;
 * - `ctl-kill`: replaced on `unicorn ctl kill PID`.
 */
export type ExitReason =
  | 'crash'
  | 'boot-failed'
  | 'timeout'
  | 'boot-timeout'
  | 'max-requests'
  | 'max-memory'
  | 'max-lifetime'
  | 'reload'
  | 'reload-failed'
  | 'scale-down'
  | 'shutdown'
  | 'ctl-kill';

/** Scale to zero (--idle-timeout, docs/elastic.md): `serving`; `idle`, every worker stopped for want
 *  of activity, the next connection starts them; `waking`, started again, none ready yet. */
export type IdleState = 'serving' | 'idle' | 'waking';

/** The arbiter as every hook can see it, in either process. */
export interface ArbiterInfo {
  readonly pid: number;
  /** When it started (epoch milliseconds). */
  readonly startedAt: number;
  /** The settings in effect (in a worker: the ones it was started with). */
  readonly config: Readonly<Settings>;
  /** Its logger (in a worker: the worker's logger). */
  readonly log: Logger;
}

/** The arbiter as hooks that run in it see it. */
export interface ArbiterView extends ArbiterInfo {
  /** How many workers it aims to run. */
  readonly workerCount: number;
  /** A reload (HUP, --reload) is under way. */
  readonly reloading: boolean;
  /** Scale to zero's state (--idle-timeout): always `serving` without it. */
  readonly idleState: IdleState;
  /** Started by USR2: the old arbiter, which may still hold addresses a plugin wants to bind
   *  (it shares the listeners, not a plugin's own sockets). Undefined otherwise. */
  readonly predecessorPid: number | undefined;
  /** A snapshot of its workers, oldest first. */
  workers(): WorkerStats[];
  /** The server as a whole, as `unicorn ctl stats --json` reports it. */
  stats(): ServerStats;
}

/** The adaptive worker count as ServerStats reports it. */
export interface ScalingStats {
  readonly min: number;
  readonly max: number;
  /** Changes the load made, by direction, since the start. */
  readonly changes: { readonly up: number; readonly down: number };
  /** `reason`: `busy 0.93 for 10s, backlog 41`, or `set by hand` (TTIN, TTOU, ctl scale);
   *  `age`: milliseconds since; null before the first change. */
  readonly last: { readonly from: number; readonly to: number; readonly reason: string; readonly age: number } | null;
}

/**
 * The server as a whole: what `unicorn ctl status` and `stats --json` show and what the prometheus
 * plugin reports, from one function in the arbiter. Plain JSON values only.
 */
export interface ServerStats {
  /** The arbiter's pid. */
  readonly pid: number;
  readonly version: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** Milliseconds since it started. */
  readonly uptime: number;
  /** `serving`; `reloading` while a reload (HUP, --reload, `ctl reload`) is under way; `stopping`. */
  readonly state: 'serving' | 'reloading' | 'stopping';
  /** How many workers it aims to run. */
  readonly workerCount: number;
  /** Scale to zero's state (--idle-timeout; `serving` without it), whatever `state` says. */
  readonly idleState: IdleState;
  /** Times every worker was stopped for --idle-timeout, and times they were started again after. */
  readonly idleStops: number;
  readonly wakeUps: number;
  /** The configuration generation: bumped by each reload that takes effect. */
  readonly generation: number;
  /** The addresses it listens at. */
  readonly listeners: readonly string[];
  /** Its control socket, or null for none. */
  readonly controlSocket: string | null;
  /** The arbiter's own resident memory, in bytes. */
  readonly rss: number;
  /** Requests served by every worker it has run, live or exited, as of their latest heartbeats. */
  readonly requests: number;
  /** Requests in flight in the live workers, as of their latest heartbeats. */
  readonly inFlight: number;
  /** Open connections in the live workers, as of their latest heartbeats. */
  readonly connections: number;
  /** The mean event-loop utilisation (0 to 1) of the serving workers (ready or retiring), as of their
   *  latest counts; null with none serving. */
  readonly elu: number | null;
  /** Connections waiting in the accept queues of its TCP listeners, read when asked; null where it
   *  cannot be read (not Linux, unix sockets only). */
  readonly backlog: number | null;
  /** How evenly the serving workers share the load: the busiest one's share (0 to 1) of the requests
   *  they have served (since each started) and of their open connections; null for none. With n
   *  workers, 1/n is an even spread and 1 is everything on one worker. */
  readonly spread: { readonly requests: number | null; readonly connections: number | null };
  /** Access-log lines dropped by every worker it has run, live or exited, as of their latest
   *  heartbeats: the log could not take them (a full disk, a pipe nobody reads). */
  readonly accessLogDropped: number;
  /** Requests served by every worker it has run, by the mount that served them (docs/mounts.md). */
  readonly mounts: Readonly<Record<string, number>>;
  /** --workers MIN:MAX (docs/elastic.md): the bounds, the load's changes of the count, and the
   *  last change (the load's or one set by hand); null for a fixed count. */
  readonly scaling: ScalingStats | null;
  /** Workers that have exited, by reason, every reason present from 0. */
  readonly exits: Readonly<Record<ExitReason, number>>;
  /** Workers that exited and were replaced: exits but those of a scale-down, a shutdown and the new
   *  workers of a reload that failed. Worker ids are never reused, so restarts are counted here. */
  readonly restarts: number;
  /** The same, by reason. */
  readonly restartsByReason: Readonly<Record<ExitReason, number>>;
  /** The live workers, oldest first. */
  readonly workers: readonly WorkerStats[];
}

/** A worker as the arbiter sees it: a snapshot, updated by each heartbeat. */
export interface WorkerStats {
  /** 1, 2, 3…: never reused while the arbiter runs. */
  readonly id: number;
  /** 0 before it is forked (preFork). */
  readonly pid: number;
  /** Bumped by each reload: workers of the current configuration have the highest. */
  readonly generation: number;
  readonly state: WorkerState;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** Milliseconds since it was forked. */
  readonly age: number;
  /** Requests it has served, as of its latest heartbeat. */
  readonly requests: number;
  /** Requests in flight, as of its latest heartbeat. */
  readonly inFlight: number;
  /** Event-loop utilisation (0 to 1) over the interval its latest heartbeat covers, or 1 while it is late for
   *  the next (held on the CPU, or by a sync request): how busy it is. */
  readonly elu: number;
  /** Open connections, keep-alive ones included, as of its latest heartbeat. */
  readonly connections: number;
  /** Resident memory in bytes, as of its latest heartbeat. */
  readonly rss: number;
  /** Access-log lines it dropped because the log could not take them, as of its latest heartbeat. */
  readonly accessLogDropped: number;
  /** Requests it has served by the mount that served them (`/`, `/api`, `static:/assets`), as of its latest heartbeat. */
  readonly mounts: Readonly<Record<string, number>>;
  /** Milliseconds since its latest heartbeat (or since it was forked). */
  readonly heartbeatAge: number;
  /** What the worker's hooks published with `worker.publish(key, value)`, as of its latest heartbeat. */
  readonly published: Readonly<Record<string, unknown>>;
  /** Set once it has exited (childExit). */
  readonly exit?: { readonly code: number | null; readonly signal: string | null; readonly reason: ExitReason };
}

/** The worker process itself, as hooks that run in it see it. */
export interface WorkerSelf {
  readonly id: number;
  readonly pid: number;
  readonly generation: number;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly age: number;
  /** The settings it was started with. */
  readonly config: Readonly<Settings>;
  readonly log: Logger;
  /** Requests it has served so far. */
  readonly requests: number;
  /** Send a JSON-serialisable value to the arbiter with the next heartbeat; hooks there see it as
   *  `worker.published[key]` (the prometheus plugin sends its counters this way). */
  publish(key: string, value: unknown): void;
}

/** What postRequest learns about a request once its response is done. */
export interface RequestInfo {
  /** Milliseconds from the request's dispatch to the response's end (or the connection's loss). */
  readonly duration: number;
  /** The status sent (or set, if nothing was sent before an abort). */
  readonly status: number;
  /** The connection closed before the response was complete. */
  readonly aborted: boolean;
}

/** Every lifecycle hook. Each may be async: it is awaited, within --hook-timeout. */
export interface Hooks {
  /** Arbiter, before it binds anything. Throwing stops the start (exit 1). */
  onStarting?(arbiter: ArbiterView): Awaitable<void>;
  /** Arbiter, once every worker is ready: after the start, and after each reload (done or failed). */
  whenReady?(arbiter: ArbiterView): Awaitable<void>;
  /** Arbiter, when a reload begins (HUP, --reload). Throwing cancels the reload. */
  onReload?(arbiter: ArbiterView): Awaitable<void>;
  /** Arbiter, before each worker is forked. Throwing skips this fork (retried with backoff). */
  preFork?(arbiter: ArbiterView, worker: WorkerStats): Awaitable<void>;
  /** Worker, first thing after the fork, before the app loads. Throwing fails the boot. */
  postFork?(arbiter: ArbiterInfo, worker: WorkerSelf): Awaitable<void>;
  /** Worker, once the app has loaded, before it accepts. Throwing fails the boot. */
  postWorkerInit?(worker: WorkerSelf): Awaitable<void>;
  /** Worker, on SIGINT or SIGQUIT (a quick stop), before it exits. */
  workerInt?(worker: WorkerSelf): Awaitable<void>;
  /** Worker, on SIGABRT (the arbiter's --timeout), before it exits; only if its event loop runs. */
  workerAbort?(worker: WorkerSelf): Awaitable<void>;
  /** Arbiter, before USR2 starts a new arbiter. Throwing cancels the re-exec. */
  preExec?(arbiter: ArbiterView): Awaitable<void>;
  /** Worker, before the app gets each request. Throwing answers 500; the worker serves on. */
  preRequest?(worker: WorkerSelf, req: IncomingMessage): Awaitable<void>;
  /** Worker, after each response is done or its connection lost. */
  postRequest?(worker: WorkerSelf, req: IncomingMessage, res: ServerResponse, info: RequestInfo): Awaitable<void>;
  /** Arbiter, after a worker has exited, for whatever reason. */
  childExit?(arbiter: ArbiterView, worker: WorkerStats): Awaitable<void>;
  /** Worker, after a graceful stop has drained it, just before it exits. */
  workerExit?(arbiter: ArbiterInfo, worker: WorkerSelf): Awaitable<void>;
  /** Arbiter, when the number of workers it aims for changes (TTIN, TTOU, WINCH, a reload). */
  nworkersChanged?(arbiter: ArbiterView, newCount: number, oldCount: number): Awaitable<void>;
  /** Arbiter, when a stop begins, however it came (a signal, `unicorn ctl shutdown`, a failed start):
   *  `graceful` is false for a quick one. A graceful stop made quick later does not call it again. */
  onStopping?(arbiter: ArbiterView, graceful: boolean): Awaitable<void>;
  /** Arbiter, when --idle-timeout has passed without activity and every worker is being stopped;
   *  the arbiter keeps the sockets (docs/elastic.md). */
  onIdle?(arbiter: ArbiterView): Awaitable<void>;
  /** Arbiter, when the workers start again after an idle stop (a connection came, or a count was set). */
  onWake?(arbiter: ArbiterView): Awaitable<void>;
  /** Arbiter, after every worker has exited, before it exits. */
  onExit?(arbiter: ArbiterView): Awaitable<void>;
}

export type { HookName } from './catalogue';

/** A compile error unless the catalogue lists exactly the hooks declared above. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type HooksMatchCatalogue = Holds<Same<keyof Hooks, HookName>>;

/** A plugin: hooks, or a function of options returning them. */
export type Plugin<Options = unknown> = Hooks | ((options?: Options) => Awaitable<Hooks>);

/** How the config file lists a plugin: a module (path, package or first-party name), a module with
 *  the options to call it with, a plugin function (called without options), or the hooks themselves. */
export type PluginEntry = string | readonly [module: string, options: unknown] | Plugin;
