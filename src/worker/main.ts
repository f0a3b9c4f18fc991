/**
 * The worker process's entry point (cluster.setupPrimary's `exec`). It loads the app, takes the
 * listening sockets the arbiter sends, accepts and serves until told to stop.
 */
import cluster from 'node:cluster';
import { UnicornError } from '../errors';
import { ExitCode } from '../exit-codes';
import { isMessage, WORKER_BOOT_ENV, type ToArbiter, type ToWorker, type WorkerBoot } from '../ipc';
import { createLogger } from '../log';
import { AcceptGate, refuseAppListen, type RawHandle } from './accept';
import { toHandler } from './handler';
import { loadApp } from './load';
import { WorkerServer } from './server';

const boot = JSON.parse(process.env[WORKER_BOOT_ENV] ?? 'null') as WorkerBoot | null;
if (!boot || !process.send) {
  process.stderr.write('unicorn: the worker entry point is started by the arbiter, not by hand\n');
  process.exit(ExitCode.USAGE);
}
delete process.env[WORKER_BOOT_ENV];

const log = createLogger({ role: 'worker', worker: boot.workerId });
const send = (message: ToArbiter) => {
  if (process.connected) process.send!(message);
};
let server: WorkerServer | undefined;
let stopping = false;
/** Set one turn of the event loop after the worker starts serving: a failure before that (such as a
 *  rejection the app's module left unhandled) is a boot failure, and respawning would repeat it. */
let booted = false;

const gate = new AcceptGate({
  listenerCount: boot.listeners.length,
  backlog: boot.backlog,
  onConnection: (socket) => server!.onConnection(socket),
  requestHandle: (index) => send({ type: 'unicorn:need-listener', index }),
  onListening: () => send({ type: 'unicorn:ready' }),
  log,
});

process.on('message', (message: unknown, handle: unknown) => {
  if (!isMessage(message) || !handle) return;
  const msg = message as ToWorker;
  if (msg.type === 'unicorn:listener') gate.addHandle(msg.index, handle as RawHandle);
});

process.on('SIGTERM', () => void stopGracefully('SIGTERM'));
// The arbiter is gone (even killed with SIGKILL): finish what is in flight and go, no orphans.
// node:cluster's own 'disconnect' handler would exit at once unless told the disconnect is expected.
cluster.worker!.exitedAfterDisconnect = true;
process.on('disconnect', () => void stopGracefully('arbiter gone'));
for (const signal of ['SIGINT', 'SIGQUIT'] as const) process.on(signal, () => process.exit(ExitCode.OK));
process.on('uncaughtException', (err) => {
  log.fatal({ err }, `${booted ? 'Uncaught exception' : 'Worker failed to boot'}, worker exiting: ${err.message}`);
  process.exit(booted ? ExitCode.ERROR : ExitCode.WORKER_BOOT_ERROR);
});

async function stopGracefully(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, `Worker exiting (pid: ${process.pid})`);
  await server?.drain();
  process.exit(ExitCode.OK);
}

async function start(): Promise<void> {
  refuseAppListen(log, boot!.listeners, () => booted);
  try {
    const app = await loadApp(boot!.app, process.cwd());
    const handler = await toHandler(app, boot!.interface, boot!.app.raw);
    if (stopping) return;
    server = new WorkerServer(handler, gate, boot!, log);
    log.info({ shape: handler.shape }, `Worker serving ${boot!.app.raw} as ${handler.shape}`);
    server.start();
    setImmediate(() => (booted = true));
  } catch (err) {
    if (err instanceof UnicornError) {
      log.error({ err, code: err.code }, err.message);
      process.exit(err.exitCode);
    }
    log.error({ err }, `Worker failed to boot: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(ExitCode.WORKER_BOOT_ERROR);
  }
}

void start();
