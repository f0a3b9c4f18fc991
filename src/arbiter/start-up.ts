/**
 * The arbiter's start, before its loop: onStarting, the control socket, and the sockets it serves on
 * (a USR2 predecessor's, systemd's, or bound from --bind), with what the log says of them; and the
 * listeners' end at a stop.
 */
import { unlinkSync } from 'node:fs';
import type { WorkerIdentity } from '../config/accounts';
import type { Settings } from '../config/settings';
import type { ControlRequest } from '../control/protocol';
import { ControlServer, type Reply } from '../control/server';
import type { HookRunner } from '../hooks/run';
import type { ArbiterView } from '../hooks/types';
import { connectionCapWarning, openFileLimit } from '../shared/descriptors';
import type { Logger } from '../shared/log';
import { VERSION } from '../shared/version';
import { activatedListeners, describeUnusedBind } from './activation';
import { type BindOptions, bindAll, closeAll, inheritListeners, type Listener } from './listeners';
import { PerWorkerSockets } from './reuse-port';
import type { Succession } from './succession';
import { emperorListeners } from './vassal/vassal';

/** The sockets the server listens on, as the arbiter holds them. */
export class ServerSockets {
  listeners: Listener[] = [];
  /** --reuse-port: each worker's own sockets. */
  perWorker: PerWorkerSockets | undefined;
  /** The unix socket files to remove at the end (systemd's are systemd's). */
  files: string[] = [];

  constructor(private readonly succession: Succession) {}

  adopt(listeners: Listener[], log: Logger): void {
    this.listeners = listeners;
    this.files = listeners.flatMap(({ address, systemd, emperor }) =>
      address.kind === 'unix' && !systemd && !emperor ? [address.path] : [],
    );
    process.once('exit', () => this.removeFiles());
    this.perWorker = new PerWorkerSockets(listeners, log);
  }

  /** Every listening socket, each with an accept queue of its own: the listeners, and --reuse-port's further ones. */
  listeningSockets(): Listener[] {
    return [...this.listeners, ...(this.perWorker?.furtherSockets ?? [])];
  }

  /** The listeners as clients reach them: https:// where the workers serve TLS (as Gunicorn says it). */
  urls(tls: boolean): string[] {
    return this.listeners.map(({ url }) => (tls ? url.replace(/^http:/, 'https:') : url));
  }

  /** Close the arbiter's copies at a stop, unless another arbiter (USR2) serves on them: says whether one does. */
  close(): boolean {
    if (this.succession.sharesListeners()) return true;
    // The files first, as libuv does: once closed, a path could be another server's by the time it is unlinked.
    this.removeFiles();
    closeAll(this.listeners);
    this.perWorker?.closeAll();
    return false;
  }

  /** Remove the unix socket files (libuv unlinks on close only the temporary name a socket was
   *  bound under, and nothing for inherited ones), and at exit for an arbiter that dies without
   *  closing its listeners. Not while another arbiter serves on them. */
  removeFiles(): void {
    if (this.succession.sharesListeners()) return;
    for (const file of this.files) {
      try {
        unlinkSync(file);
      } catch {
        // Already gone.
      }
    }
  }
}

export interface StartContext {
  settings: Settings;
  log: Logger;
  hooks: HookRunner;
  view: ArbiterView;
  succession: Succession;
  sockets: ServerSockets;
  /** --user and --group, as at start (undefined: the workers run as the arbiter). */
  identity: WorkerIdentity | undefined;
  onRequest: (request: ControlRequest, reply: Reply) => void;
}

/** Run onStarting, open the control socket and the listeners. Throws if a listener cannot be bound. */
export async function startUp(context: StartContext): Promise<ControlServer | undefined> {
  const { settings, log, hooks, view, succession, sockets } = context;
  log.info({ version: VERSION, node: process.version }, `Starting unicorn ${VERSION}`);
  const inherited = inheritListeners(process.env);
  // systemd's, unless an arbiter handed them down (its environment no longer names them).
  const activated = inherited ? undefined : activatedListeners(process.env);
  // An on-demand vassal's, which the emperor bound and holds (vassal/vassal.ts).
  const passed = inherited || activated ? undefined : emperorListeners(process.env, settings.bind);
  succession.begin(inherited?.predecessor);
  try {
    await hooks.run('onStarting', view);
  } catch (err) {
    succession.end();
    throw err;
  }
  let control: ControlServer | undefined;
  try {
    const { controlSocket: setting } = settings;
    control = await ControlServer.start({ setting, predecessor: succession.predecessorPid, log, onRequest: context.onRequest });
    sockets.adopt(
      inherited?.listeners ?? activated ?? passed ?? (await bindAll(settings.bind, settings.backlog, bindOptions(context))),
      log,
    );
  } catch (err) {
    // What onStarting set up (a plugin's own server) is undone as at any exit.
    await hooks.run('onExit', view);
    succession.end();
    throw err;
  }
  const urls = sockets.urls(settings.certfile !== undefined);
  for (const [i, { systemd, emperor }] of sockets.listeners.entries()) {
    const from = inherited ? `pid ${succession.predecessorPid}` : systemd ? 'systemd' : emperor ? 'the emperor' : undefined;
    log.info(
      { address: urls[i], inherited: from !== undefined },
      `Listening at: ${urls[i]} (${from ? `inherited from ${from}` : process.pid})`,
    );
  }
  logOsSetup(context, activated !== undefined);
  log.info({ workerClass: settings.workerClass }, `Using worker: ${settings.workerClass}`);
  warnOfConnectionCap(settings, log);
  return control;
}

/** The open-file limit caps the workers' --worker-connections (descriptors.ts): said at start, and
 *  again for a reload that changes them. */
export function warnOfConnectionCap(settings: Settings, log: Logger): void {
  const warning = connectionCapWarning(settings, openFileLimit());
  if (warning) log.warn({ workerConnections: settings.workerConnections }, warning);
}

/** How --bind is bound: unix socket files under --umask and given to the workers' user. */
function bindOptions({ settings, identity, log }: StartContext): BindOptions {
  const { umask, reusePort } = settings;
  const owner = identity && { uid: identity.uid, gid: identity.gid, label: identity.label };
  return { umask, owner, reusePort, log };
}

/** Once the listeners are open: what the operating system's part in them and the workers is (docs/os.md). */
function logOsSetup({ settings, sockets, identity, log }: StartContext, activated: boolean): void {
  const unused = activated ? describeUnusedBind(settings.bind, sockets.listeners) : undefined;
  if (unused) log.info(unused);
  if (settings.reusePort && !sockets.perWorker?.active) {
    const shared = 'unix: and fd:// addresses, sockets systemd passed, and sockets a USR2 re-exec handed down without it';
    log.warn(`--reuse-port has no effect: every worker shares every listener (${shared})`);
  } else if (sockets.perWorker?.active) {
    log.info('Each worker accepts on a socket of its own at every TCP address (--reuse-port)');
  }
  if (identity) log.info({ uid: identity.uid, gid: identity.gid }, `Workers run as ${identity.label}`);
}
