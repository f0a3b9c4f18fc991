/**
 * The worker process's entry point (cluster.setupPrimary's `exec`). It loads the app, takes the
 * listening sockets the arbiter sends, accepts and serves until told to stop.
 */
// First, so that every module after it is read from the compile cache.
import '../shared/compile-cache';
import cluster from 'node:cluster';
import { timerMs } from '../config/duration';
import { formatSize } from '../config/size';
import type { TlsMaterial } from '../config/tls';
import {
  type BootStep,
  CAPTURED_STDERR_FD,
  CAPTURED_STDOUT_FD,
  type ConnectionHandle,
  isMessage,
  pipesStderr,
  SELF_REPORT_KEY,
  type SelfReport,
  type ToArbiter,
  type ToWorker,
  WORKER_BOOT_ENV,
  type WorkerBoot,
  type WorkerCounts,
} from '../ipc';
import { persistCompileCache } from '../shared/compile-cache';
import { connectionCap, openFileLimit } from '../shared/descriptors';
import { UnicornError } from '../shared/errors';
import { ExitCode } from '../shared/exit-codes';
import { createLogger, reopenLogs } from '../shared/log';
import { residentMemory } from '../shared/resident-memory';
import { vassalName } from '../vassal-ipc';
import { AcceptGate, type RawHandle, refuseAppListen } from './accept';
import type { AccessLog } from './access-log';
import { WORKER_CLASS_IMPLEMENTATIONS } from './classes/registry';
import { adoptConnection, HandBack } from './hand-back';
import { type HeapState, watchHeap } from './heap-watch';
import { Heartbeat } from './heartbeat';
import { loadWorkerHooks, requestHooks, type WorkerHooks } from './hooks';
import { LoopUtilisation } from './loop-utilisation';
import { dropPrivileges, explainDenied } from './privileges';
import { proxyOptions } from './proxy-options';
import { WorkerServer } from './server';
import { loadSite, type Site } from './site';

const boot = JSON.parse(process.env[WORKER_BOOT_ENV] ?? 'null') as WorkerBoot | null;
if (!boot || !process.send) {
  process.stderr.write('unicorn: the worker entry point is started by the arbiter, not by hand\n');
  process.exit(ExitCode.USAGE);
}
delete process.env[WORKER_BOOT_ENV];

// With --capture-output the worker's own stdout and stderr lead to the arbiter's error log, and with
// a JSON error log on stderr its stderr leads to the arbiter (pipesStderr); its own log goes straight
// to where the arbiter's does: fd 4 is the arbiter's stderr (worker-process.ts).
const stderrPiped = pipesStderr(boot.settings);
const logFd = stderrPiped ? CAPTURED_STDERR_FD : 2;
const log = createLogger({ role: 'worker', worker: boot.workerId, vassal: vassalName() }, boot.settings, logFd);
for (const stream of [...(boot.settings.captureOutput ? [process.stdout] : []), ...(stderrPiped ? [process.stderr] : [])]) {
  // Those are pipes to the arbiter, which Node writes asynchronously once one is full: what is
  // still queued when the worker exits (an app's last words) would be lost. Written synchronously,
  // as Node writes a file or a terminal, each line is in the pipe before the next statement runs.
  (stream as { _handle?: { setBlocking?(blocking: boolean): number } })._handle?.setBlocking?.(true);
  // Once the arbiter is gone (even killed with SIGKILL), what the app prints has nowhere to go, and
  // must not end the requests the worker finishes: a write to the broken pipe is dropped.
  stream.on('error', () => {});
}
const send = (message: ToArbiter) => {
  if (process.connected) process.send!(message);
};
/** Send and wait until the message is handed to the channel (bounded: the arbiter may be gone). */
const sendBeforeExit = (message: ToArbiter) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    setTimeout(resolve, 200).unref();
    process.send!(message, undefined, {}, () => resolve());
  });
/** Tell the arbiter what the boot does next: sent before the step begins, so it is out even if
 *  the step then holds the event loop. */
const bootStep = (step: BootStep) => send({ type: 'unicorn:boot-step', step });
let server: WorkerServer | undefined;
let hooks: WorkerHooks | undefined;
let accessLog: AccessLog | undefined;
let site: Site | undefined;
let stopping = false;
/** The stop began while booting, with a hand-over that brought the last copies of the worker's
 *  sockets: the boot goes on, for the worker to serve what is queued on them (another worker's,
 *  crashed, whose socket it took over), then it stops. */
let bootForQueue = false;
/** Resolved once start() has made the server, or will not. */
let bootSettled: () => void = () => {};
const bootOver = new Promise<void>((resolve) => (bootSettled = resolve));
/** With --certfile: the certificate and key the arbiter sends at fork, as it read them. */
let receiveTls: (material: TlsMaterial) => void = () => {};
const tlsMaterial = new Promise<TlsMaterial>((resolve) => (receiveTls = resolve));
/** Set one turn of the event loop after the worker starts serving: a failure before that (such as a
 *  rejection the app's module left unhandled) is a boot failure, and respawning would repeat it. */
let booted = false;
/** How long after it begins to serve the worker writes the modules it compiled to the compile cache. */
const COMPILE_CACHE_DELAY_MS = 1000;
/** Read once, at start: the worker's connections and its accepting stop short of it. */
const descriptorLimit = openFileLimit();
/** The event loop's utilisation, sent with every count (the scaler, ctl, the prometheus plugin). */
const loopUtilisation = new LoopUtilisation();

const gate = new AcceptGate({
  listenerCount: boot.listeners.length,
  backlog: boot.settings.backlog,
  onConnection: (socket) => server!.onConnection(socket),
  pauseOnConnect: WORKER_CLASS_IMPLEMENTATIONS[boot.settings.workerClass].pausedAccept,
  requestHandle: (index) => send({ type: 'unicorn:need-listener', index }),
  onListening: () => {
    // The utilisation the arbiter scales by (--workers MIN:MAX) counts from here: loading the app is not load.
    loopUtilisation.restart();
    send({ type: 'unicorn:ready' });
  },
  descriptorLimit,
  log,
});

/** sync: connections the worker will not start soon go back to the arbiter (classes/sync.ts). */
const handBack = new HandBack(
  {
    connected: () => process.connected,
    send: (handle, sent) => process.send!({ type: 'unicorn:hand-back' } satisfies ToArbiter, handle as never, {}, () => sent()),
  },
  log,
);

/**
 * SIGUSR1 makes Node open the inspector, on a free loopback port: the arbiter does it to read the
 * stack of a worker that stopped answering (arbiter/diagnose.ts). Sent by anyone else (`pkill -USR1
 * unicorn`, meant for the arbiter's log reopening), it would leave an unauthenticated inspector open
 * in a working worker; a worker whose timers run closes it from the second tick it sees it open.
 */
let inspectorSeen = false;
/** Loaded at the first heartbeat's tick, once the worker serves. */
let inspector: typeof import('node:inspector') | undefined;
function closeStrayInspector(): void {
  inspector ??= require('node:inspector') as typeof import('node:inspector');
  const open = inspector.url() !== undefined;
  if (open && inspectorSeen) {
    inspector.close();
    log.warn('Closed the inspector a SIGUSR1 opened; to reopen the logs, send USR1 to the arbiter');
  }
  inspectorSeen = open && !inspectorSeen;
}

const counts = (): WorkerCounts => ({
  requests: server?.served ?? 0,
  inFlight: server?.inFlight() ?? 0,
  elu: loopUtilisation.sinceLast(),
  connections: server?.connections ?? 0,
  rss: residentMemory(),
  accessLogDropped: accessLog?.dropped ?? 0,
  mounts: Object.fromEntries(site?.mounts.map((mount) => [mount.name, mount.served]) ?? []),
});
const heartbeatMessage = (): ToArbiter => ({ type: 'unicorn:heartbeat', ...counts(), published: hooks?.takePublished() });
const heartbeat = new Heartbeat(
  boot.heartbeatMs,
  () => send(heartbeatMessage()),
  () => server?.holdsHeartbeat() === true,
  closeStrayInspector,
);

(process as unknown as Record<symbol, () => SelfReport>)[Symbol.for(SELF_REPORT_KEY)] = () => ({
  inFlight: server?.describeInFlight() ?? [],
});

process.on('message', (message: unknown, handle: unknown) => {
  if (!isMessage(message)) return;
  const msg = message as ToWorker;
  switch (msg.type) {
    case 'unicorn:listener':
      if (handle) gate.addHandle(msg.index, handle as RawHandle);
      break;
    case 'unicorn:reopen-logs':
      reopenLogs(log);
      break;
    case 'unicorn:hand-over':
      void stopGracefully('replaced', false, msg.lastOnSocket);
      break;
    case 'unicorn:shutdown':
      void stopGracefully('shutdown', true, true);
      break;
    case 'unicorn:tls':
      receiveTls(msg.material);
      break;
    case 'unicorn:report':
      send({ type: 'unicorn:report', seq: msg.seq, ...counts() });
      break;
    case 'unicorn:shed':
      server?.shed(msg.keep);
      break;
    case 'unicorn:connection':
      if (!handle) break;
      // Passed to a sync worker only when it asked, to an async one once ready; one not serving
      // yet sends it straight back.
      if (server) server.adopt(adoptConnection(handle as ConnectionHandle));
      else handBack.send([adoptConnection(handle as ConnectionHandle)], 'stopping');
      break;
    case 'unicorn:no-connection':
      server?.noConnection();
      break;
    case 'unicorn:holding':
      server?.holding();
      break;
    case 'unicorn:lend-listeners':
      for (let index = 0; index < boot.listeners.length; index++) {
        if (process.connected) process.send!({ type: 'unicorn:lent-listener', index } satisfies ToArbiter, gate.lend(index) as never);
      }
      break;
  }
});

// Signals sent to the worker itself act as they do on the arbiter's say-so (see docs/SIGNALS.md).
// USR1 is left to Node: it opens the inspector, through which the arbiter reads a stuck worker's stack.
process.on('SIGTERM', () => void stopGracefully('SIGTERM', true));
process.on('SIGHUP', () => void stopGracefully('SIGHUP', false));
// The arbiter's timeout path, when this worker's event loop can still run it (a sync request that
// waits too long); a worker stuck in a loop never gets here and is killed.
process.on('SIGABRT', () => void exitNow('abort'));
// Meant for the arbiter (a `pkill -TTIN unicorn` reaches the workers too): job-control stops and
// Node's defaults must not apply.
for (const signal of ['SIGTTIN', 'SIGTTOU', 'SIGWINCH', 'SIGUSR2'] as const) process.on(signal, () => {});
// The arbiter is gone (even killed with SIGKILL): finish what is in flight and go, no orphans.
// node:cluster's own 'disconnect' handler would exit at once unless told the disconnect is expected.
cluster.worker!.exitedAfterDisconnect = true;
process.on('disconnect', () => {
  // An answer to `free` will not come: the worker serves on without one.
  server?.noConnection();
  void stopGracefully('arbiter gone', true);
});
for (const signal of ['SIGINT', 'SIGQUIT'] as const) process.on(signal, () => void exitNow('quick'));
watchHeap(stopNearHeapLimit);
process.on('uncaughtException', (err) => {
  // Before the worker is booted (a rejection the app's module left unhandled), it is a boot failure:
  // the arbiter hears why, and says it once (a reload's `ctl reload` answers with it).
  if (!booted) return void bootFailed(err);
  log.fatal({ err }, `Uncaught exception, worker exiting: ${err.message}`);
  process.exit(ExitCode.ERROR);
});

/**
 * Stop accepting, finish what is in flight and exit. `closeIdle`: the server is going away, so idle
 * keep-alive connections are closed at once; otherwise other workers serve on and those connections
 * are left to close after their next response (see WorkerServer.drain). `takeQueued`: the worker
 * holds the last copies of its sockets, and accepts what is queued on them first (AcceptGate.close),
 * even when its stop had begun. A later call can otherwise only make the stop more abrupt.
 */
async function stopGracefully(reason: string, closeIdle: boolean, takeQueued = false): Promise<void> {
  if (stopping) {
    // The hand-over of a worker stopping already still brings its sockets' last copies: their
    // queue is taken and served in the drain under way (WorkerServer.takeLate).
    if (closeIdle || takeQueued) await server?.drain(closeIdle, takeQueued);
    return;
  }
  stopping = true;
  heartbeat.stop();
  log.info({ reason }, `Worker exiting (pid: ${process.pid})`);
  // In-flight requests get --graceful-timeout, as the arbiter would give them, even without one.
  setTimeout(() => {
    log.warn(`Graceful stop took longer than ${boot!.settings.gracefulTimeout}ms; exiting with requests in flight`);
    process.exit(ExitCode.OK);
  }, timerMs(boot!.settings.gracefulTimeout)).unref();
  if (takeQueued && !server) {
    bootForQueue = true;
    await bootOver;
  }
  await server?.drain(closeIdle, takeQueued);
  await hooks?.runner.run('workerExit', hooks.arbiter, hooks.self);
  // Every request has closed, so every line is gathered: see them written (none lost to a
  // reload, recycling or a stop), or what the log could not take counted.
  await accessLog?.close();
  // A last beat: what was served (and published, and dropped) since the previous one reaches the arbiter.
  await sendBeforeExit(heartbeatMessage());
  process.exit(ExitCode.OK);
}

/** The heap is about to run out (heap-watch.ts): the worker would serve nothing until V8 gave up.
 *  Its replacement starts now; what is in flight is cut off, as the crash would have. */
async function stopNearHeapLimit({ used, limit }: HeapState): Promise<void> {
  if (exiting) return;
  exiting = true;
  heartbeat.stop();
  log.error(
    { heapUsed: used, heapLimit: limit, inFlight: server?.inFlight() ?? 0 },
    `Worker heap ${formatSize(used)} of ${formatSize(limit)} in use after a full GC; stopping before it runs out`,
  );
  await sendBeforeExit({ type: 'unicorn:over-memory', rss: residentMemory(), heap: { used, limit } });
  process.exit(ExitCode.ERROR);
}

/**
 * A quick stop (SIGINT, SIGQUIT) or the arbiter's abort of a worker past --timeout (SIGABRT): run
 * workerInt or workerAbort, then exit with what is in flight. The arbiter kills the worker soon
 * after either way (a second for a quick stop, less for an abort), hook or no hook.
 */
let exiting = false;
async function exitNow(why: 'quick' | 'abort'): Promise<void> {
  if (exiting) return;
  exiting = true;
  heartbeat.stop();
  if (why === 'abort') log.error({ inFlight: server?.describeInFlight() }, `Worker aborted (pid: ${process.pid})`);
  await hooks?.runner.run(why === 'abort' ? 'workerAbort' : 'workerInt', hooks.self);
  process.exit(why === 'abort' ? ExitCode.ERROR : ExitCode.OK);
}

async function start(): Promise<void> {
  const { settings } = boot!;
  refuseAppListen(log, boot!.listeners, () => booted);
  try {
    // --user, --group, --umask: before anything of the app's or a plugin's runs.
    dropPrivileges(settings, log);
    // '-' is the arbiter's stdout: with --capture-output the worker's own leads to the error log.
    const stdoutFd = settings.captureOutput ? CAPTURED_STDOUT_FD : 1;
    // The log's writer and format compiler are loaded only with --access-logfile.
    if (settings.accessLogfile) {
      const { AccessLog } = require('./access-log') as typeof import('./access-log');
      accessLog = AccessLog.open(settings.accessLogfile, settings.accessLogformat, stdoutFd, log);
    }
    bootStep({ step: 'hooks' });
    hooks = await loadWorkerHooks(boot!, log, () => server?.served ?? 0);
    bootStep({ step: 'postFork' });
    await hooks.runner.run('postFork', hooks.arbiter, hooks.self);
    site = await loadSite(settings, process.cwd(), bootStep);
    const { handler } = site;
    bootStep({ step: 'postWorkerInit' });
    await hooks.runner.run('postWorkerInit', hooks.self);
    if (stopping && !bootForQueue) return;
    let retired = false;
    // The arbiter sends it right after the fork: long here by now (--worker-boot-timeout covers its loss).
    if (settings.certfile) bootStep({ step: 'tls' });
    const tls = settings.certfile ? { material: await tlsMaterial, certReqs: settings.certReqs, http2: settings.http2 } : undefined;
    if (stopping && !bootForQueue) return;
    bootStep({ step: 'listen' });
    // The arbiter has warned when the open-file limit caps --worker-connections.
    const workerConnections = connectionCap(settings.workerConnections, descriptorLimit);
    const options = { ...settings, workerConnections, maxRequests: boot!.maxRequests, accessLog, tls, ...proxyOptions(settings, log) };
    server = new WorkerServer(
      handler,
      gate,
      options,
      log,
      {
        onLimit: () => {
          if (retired) return;
          retired = true;
          log.info(
            { requests: server!.served },
            `Worker (pid: ${process.pid}) reached --max-requests ${boot!.maxRequests}; asking to be replaced`,
          );
          send({ type: 'unicorn:retire', requests: server!.served });
        },
        onHeldRequest: () => heartbeat.touch(),
        handBack: (sockets, why) => handBack.send(sockets, why),
        free: (stopping) => {
          if (!process.connected) return false;
          send({ type: 'unicorn:free', stopping });
          return true;
        },
      },
      requestHooks(hooks),
    );
    log.info({ shape: handler.shape }, `Worker serving ${site.description}`);
    // Stopping (bootForQueue), it serves only what its drain takes from the queue.
    if (!stopping) {
      server.start();
      heartbeat.start();
    }
    setImmediate(() => (booted = true));
    // Later than the first requests, which the disk writes would otherwise hold up.
    setTimeout(persistCompileCache, COMPILE_CACHE_DELAY_MS).unref();
  } catch (err) {
    await bootFailed(explainDenied(err, boot!.settings));
  } finally {
    bootSettled();
  }
}

/**
 * The worker cannot serve: say why, and exit with 4 when the app itself did not load (the arbiter
 * then does not respawn in a loop) or 3 for any other boot failure (config, hooks). The reason goes
 * to the arbiter, which logs it once however many workers fail the same way (a bad deploy fails
 * every new worker of a reload); only without an arbiter does the worker log it itself.
 */
let failingBoot = false;
async function bootFailed(err: unknown): Promise<void> {
  if (failingBoot) return;
  failingBoot = true;
  const known = err instanceof UnicornError;
  const message = known ? err.message : `Worker failed to boot: ${err instanceof Error ? err.message : String(err)}`;
  const code = known && err.exitCode === ExitCode.APP_LOAD_ERROR ? ExitCode.APP_LOAD_ERROR : ExitCode.WORKER_BOOT_ERROR;
  log.debug({ err }, message);
  if (process.connected) await sendBeforeExit({ type: 'unicorn:boot-failed', message, code: known ? err.code : undefined });
  else log.error({ err }, message);
  process.exit(code);
}

void start();
