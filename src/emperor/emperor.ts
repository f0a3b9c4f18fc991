/**
 * The emperor: a vassal for each config file in its directory, started as the file appears,
 * reloaded as it changes, stopped as it goes; restarted with a backoff when it dies, put aside when
 * it keeps failing; signals passed on to every vassal. It implements what `unicorn ctl` asks of it
 * (EmperorControl): signals and control commands take the same paths.
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { badUsage, UnicornError } from '../shared/errors';
import { type Logger, reopenLogs } from '../shared/log';
import { HeldSockets } from './held-sockets';
import type { EmperorOptions } from './options';
import { makeRoom } from './pool';
import type { EmperorControl, VassalSummary } from './types';
import { Vassal, type VassalEnd } from './vassal';
import { duplicateReason, scanVassalFiles, vassalName } from './vassal-files';
import { needsRestart, readVassalSettings } from './vassal-settings';

/** Editors write a file in several steps: its events are settled once they have been quiet this long. */
const SETTLE_MS = 150;
/** A vassal waiting for room under the host limit asks again this often (a busy vassal becomes quiet). */
const WAIT_RETRY_MS = 1000;
/** Why the vassal directory cannot be read, in words. */
const DIR_PROBLEMS: Record<string, string> = { ENOENT: 'no such directory', ENOTDIR: 'not a directory', EACCES: 'permission denied' };

export class Emperor implements EmperorControl {
  private readonly table = new Map<string, Vassal>();
  /** Each vassal's actions run one after another: a change that comes while it starts waits. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly settling = new Map<string, NodeJS.Timeout>();
  private watcher: { close(): Promise<void> } | undefined;
  private stopping: Promise<string> | undefined;
  private stoppingQuickly = false;
  private finish!: (code: number) => void;

  constructor(
    private readonly options: EmperorOptions,
    private readonly log: Logger,
  ) {}

  /** Start every vassal and watch the directory; resolves with the exit code once stopped. */
  async run(takeSignals: (to: (signal: NodeJS.Signals) => void) => void): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.finish = resolve));
    this.log.info({ dir: this.options.vassals }, `Emperor started (pid: ${process.pid}), vassals in ${this.options.vassals}`);
    this.watch();
    this.scan(false);
    takeSignals((signal) => this.onSignal(signal));
    return finished;
  }

  // What ctl asks (types.ts): each resolves to a line for a person, or rejects (an unknown name).

  vassals(): VassalSummary[] {
    return [...this.table.values()].map((vassal) => vassal.summary());
  }

  async reload(name: string): Promise<string> {
    const vassal = this.named(name);
    return this.serial(vassal, () => this.reloadVassal(vassal));
  }

  async stop(name: string): Promise<string> {
    const vassal = this.named(name);
    return this.serial(vassal, async () => {
      await this.stopVassal(vassal, 'SIGTERM');
      return `vassal ${name} stopped`;
    });
  }

  async start(name: string): Promise<string> {
    const vassal = this.named(name);
    return this.serial(vassal, async () => {
      if (vassal.running) return `vassal ${name} is running already (pid ${vassal.pid})`;
      vassal.forgive();
      await this.startVassal(vassal);
      return `vassal ${name} is ${vassal.state}`;
    });
  }

  async reloadAll(): Promise<string> {
    const vassals = [...this.table.values()];
    await Promise.all(vassals.map((vassal) => this.serial(vassal, () => this.reloadUnlessStopped(vassal))));
    return `${vassals.length} vassals reloaded`;
  }

  shutdown(quick: boolean): Promise<string> {
    if (this.stopping) {
      // A quick stop during a graceful one hurries it, as a second stop signal does a single unicorn's.
      if (quick && !this.stoppingQuickly) {
        this.stoppingQuickly = true;
        this.log.info('Emperor stopping its vassals quickly');
        for (const vassal of this.table.values()) void vassal.stop('SIGQUIT');
      }
      return this.stopping;
    }
    this.stoppingQuickly = quick;
    this.stopping = (async () => {
      const vassals = [...this.table.values()];
      this.log.info(`Emperor stopping ${vassals.length} vassals ${quick ? 'quickly' : 'gracefully'}`);
      for (const timer of this.settling.values()) clearTimeout(timer);
      await this.watcher?.close();
      await Promise.all(vassals.map((vassal) => this.stopVassal(vassal, quick ? 'SIGQUIT' : 'SIGTERM')));
      this.log.info('Emperor stopped');
      this.finish(0);
      return `${vassals.length} vassals stopped`;
    })();
    return this.stopping;
  }

  private onSignal(signal: NodeJS.Signals): void {
    const acted = (what: Promise<unknown>) => what.catch((err) => this.log.error({ err }, `${signal} failed: ${String(err)}`));
    switch (signal) {
      case 'SIGTERM':
        return void acted(this.shutdown(false));
      case 'SIGINT':
      case 'SIGQUIT':
        return void acted(this.shutdown(true));
      case 'SIGHUP':
        this.log.info('Emperor reloading: re-reading the directory and reloading every vassal (HUP)');
        return this.scan(true);
      case 'SIGUSR1':
        for (const problem of reopenLogs(this.log)) this.log.error(problem);
        for (const vassal of this.table.values()) vassal.signal('SIGUSR1');
        return;
      default:
        this.log.info(`Emperor ignores ${signal}: send it to a vassal's pid (unicorn ctl lists them)`);
    }
  }

  /** Start the vassals whose files are new, stop those whose files are gone; `reload`: the others too (HUP). */
  private scan(reload: boolean): void {
    if (this.stopping) return;
    let scanned: ReturnType<typeof scanVassalFiles>;
    try {
      scanned = scanVassalFiles(this.options.vassals);
    } catch (err) {
      // Moved or unreadable: stopping every vassal for it would be worse than keeping them.
      const code = (err as NodeJS.ErrnoException).code;
      const why = DIR_PROBLEMS[code ?? ''] ?? code ?? String(err);
      this.log.error(`cannot read the vassal directory ${this.options.vassals}: ${why}; the vassals run on as they were`);
      return;
    }
    const { found, refused } = scanned;
    for (const { file, reason } of refused) this.log.error({ vassal: vassalName(file), file }, reason);
    const present = new Set(found.map((f) => f.name));
    for (const vassal of this.table.values()) if (!present.has(vassal.name)) void this.remove(vassal);
    for (const { name, file } of found) {
      const known = this.table.get(name);
      if (!known) this.add(name, file);
      else if (reload) this.queue(known, () => this.reloadUnlessStopped(known));
    }
  }

  private watch(): void {
    // Loaded here: chokidar is an ES module (see src/arbiter/watch.ts).
    const { watch } = require('chokidar') as typeof import('chokidar');
    const watcher = watch(this.options.vassals, { ignoreInitial: true, depth: 0 });
    const record = (file: string) => {
      clearTimeout(this.settling.get(file));
      this.settling.set(
        file,
        setTimeout(() => {
          this.settling.delete(file);
          this.settle(file);
        }, SETTLE_MS),
      );
    };
    watcher.on('add', record).on('change', record).on('unlink', record);
    watcher.on('error', (err) => this.log.error({ err }, `watching ${this.options.vassals} failed: ${String(err)}`));
    this.watcher = watcher;
  }

  /** A file in the directory changed (appeared, was written or touched, went): act by what it is now. */
  private settle(file: string): void {
    if (this.stopping) return;
    const name = vassalName(file);
    const vassal = name === undefined ? undefined : this.table.get(name);
    const exists = existsSync(file);
    if (name === undefined) {
      // Not a vassal's file: a template the vassals' symlinks point to, when it is one.
      if (exists) for (const linked of this.linkedTo(file)) this.changed(linked, `${path.basename(file)} changed`);
      return;
    }
    if (!vassal) {
      if (exists) this.add(name, file);
    } else if (vassal.file !== file) {
      if (exists) this.log.error({ vassal: name, file }, duplicateReason(name, file, vassal.file));
    } else if (exists) this.changed(vassal, 'its file changed');
    else void this.remove(vassal).then(() => this.succeed(name));
  }

  /** A vassal's file went: another file of its name, refused while it ran, is the vassal now. */
  private succeed(name: string): void {
    const next = scanVassalFiles(this.options.vassals).found.find((found) => found.name === name);
    if (next && !this.stopping && !this.table.has(name)) this.add(name, next.file);
  }

  private changed(vassal: Vassal, why: string): void {
    vassal.log.info(`Vassal ${vassal.name} reloads: ${why}`);
    this.queue(vassal, () => this.reloadVassal(vassal));
  }

  private linkedTo(file: string): Vassal[] {
    const real = (f: string) => {
      try {
        return realpathSync(f);
      } catch {
        return f;
      }
    };
    const target = real(file);
    return [...this.table.values()].filter((vassal) => vassal.file !== file && real(vassal.file) === target);
  }

  private add(name: string, file: string): void {
    const vassal = new Vassal(name, file, this.options.vassals, this.log.child({ vassal: name }), (v, end) => this.ended(v, end));
    this.table.set(name, vassal);
    this.queue(vassal, () => this.startVassal(vassal));
  }

  private async remove(vassal: Vassal): Promise<void> {
    if (this.table.get(vassal.name) !== vassal) return;
    this.table.delete(vassal.name);
    vassal.log.info(`Vassal ${vassal.name} stops: its file is gone`);
    await this.serial(vassal, () => this.stopVassal(vassal, 'SIGTERM')).catch(() => {});
    vassal.log.info(`Vassal ${vassal.name} removed`);
  }

  /** Read its file (refusing a broken one), then start it, or hold its sockets when on-demand. */
  private async startVassal(vassal: Vassal): Promise<void> {
    if (this.stopping || this.table.get(vassal.name) !== vassal) return;
    try {
      const before = vassal.settings;
      vassal.settings = await readVassalSettings(vassal.name, vassal.file, this.options.vassals);
      // Stopped or removed while its file was read: nothing to bind or start.
      if (this.stopping || this.table.get(vassal.name) !== vassal) return;
      if (vassal.holder && needsRestart(before, vassal.settings)) {
        vassal.holder.close();
        vassal.holder = undefined;
      }
      if (vassal.settings.onDemand && !vassal.holder) {
        vassal.holder = HeldSockets.bind(vassal.settings.bind, vassal.settings.backlog, vassal.log);
        vassal.holder.accept(() => this.wake(vassal));
      }
    } catch (err) {
      if (!(err instanceof UnicornError)) throw err;
      this.putAside(vassal, err.message, 'its file is refused');
      return;
    }
    if (vassal.holder && vassal.holder.holding === 0) {
      vassal.setState('idle');
      vassal.log.info(`Vassal ${vassal.name} waits for its first connection (on demand)`);
      return;
    }
    await this.launch(vassal);
  }

  /** Spawn it, under the host limit: stop the longest idle on-demand vassals first, or wait (pool.ts). */
  private async launch(vassal: Vassal): Promise<void> {
    if (vassal.running || this.stopping) return;
    const others = [...this.table.values()].filter((v) => v !== vassal).map((v) => v.poolView());
    const newcomer = { name: vassal.name, workers: vassal.settings?.workers ?? 1, rss: vassal.lastRss };
    const room = makeRoom(this.options, others, newcomer, Date.now());
    if (room.kind === 'too-big') return this.putAside(vassal, room.reason, 'it cannot fit under the host limit');
    if (room.kind === 'wait') {
      if (vassal.state !== 'waiting') vassal.log.warn(room.reason);
      vassal.setState('waiting');
      // Room comes when a vassal exits (ended), or when a busy one has been quiet long enough.
      clearTimeout(vassal.pendingStart);
      vassal.pendingStart = setTimeout(() => {
        vassal.pendingStart = undefined;
        this.queue(vassal, () => this.launch(vassal));
      }, WAIT_RETRY_MS);
      return;
    }
    if (room.kind === 'stop') {
      vassal.log.info(room.reason);
      await Promise.all(room.names.map((name) => this.table.get(name)?.stop('SIGTERM')));
    }
    if (!vassal.running && !this.stopping && this.table.get(vassal.name) === vassal) vassal.spawn();
  }

  /** An on-demand vassal's connection came: start it, or pass the connection if it runs. */
  private wake(vassal: Vassal): void {
    if (vassal.running) return vassal.passHeld();
    // Checked when its turn comes: a stop queued before it closes the sockets.
    this.queue(vassal, async () => {
      if (vassal.holder && vassal.state === 'idle') await this.launch(vassal);
    });
  }

  private async reloadVassal(vassal: Vassal): Promise<string> {
    if (!vassal.running) {
      // A put-aside, failed or stopped vassal is started afresh.
      vassal.forgive();
      await this.startVassal(vassal);
      return `vassal ${vassal.name} is ${vassal.state}`;
    }
    const before = vassal.settings;
    try {
      // A file that no longer reads is refused, and the running vassal kept (the vassal would refuse it too).
      vassal.settings = await readVassalSettings(vassal.name, vassal.file, this.options.vassals);
    } catch (err) {
      if (!(err instanceof UnicornError)) throw err;
      vassal.reason = err.message;
      vassal.log.error({ code: err.code }, `Vassal ${vassal.name} keeps running as it was: its file is refused: ${err.message}`);
      return `vassal ${vassal.name} not reloaded: ${err.message}`;
    }
    if (needsRestart(before, vassal.settings)) {
      vassal.log.info(`Vassal ${vassal.name} restarts: its bind or onDemand changed, which a reload (HUP) would keep`);
      await this.stopVassal(vassal, 'SIGTERM');
      vassal.forgive();
      await this.startVassal(vassal);
      return `vassal ${vassal.name} restarted for its new bind: it is ${vassal.state}`;
    }
    vassal.signal('SIGHUP');
    vassal.log.info({ vassalPid: vassal.pid }, `Vassal ${vassal.name} reloading (HUP)`);
    return `vassal ${vassal.name} reloading`;
  }

  /** Reloading every vassal (HUP, `ctl reload`) leaves one stopped by `ctl stop NAME` stopped: only
   *  `start NAME` or a change of its file undo that (docs/ctl.md). */
  private async reloadUnlessStopped(vassal: Vassal): Promise<string> {
    if (vassal.state === 'stopped') return `vassal ${vassal.name} stays stopped`;
    return this.reloadVassal(vassal);
  }

  private async stopVassal(vassal: Vassal, signal: 'SIGTERM' | 'SIGQUIT'): Promise<void> {
    await vassal.stop(signal);
    vassal.holder?.close();
    vassal.holder = undefined;
    vassal.setState('stopped');
  }

  private putAside(vassal: Vassal, reason: string, why: string): void {
    vassal.putAside(reason);
    vassal.holder?.close();
    vassal.holder = undefined;
    vassal.log.error(
      { reason },
      `Vassal ${vassal.name} is put aside (${why}) until its file changes or \`unicorn ctl start ${vassal.name}\`: ${reason}`,
    );
  }

  private ended(vassal: Vassal, end: VassalEnd): void {
    if (end.kind === 'left') vassal.log.info(`Vassal ${vassal.name} left while idle: its sockets are held until its next connection`);
    if (end.kind === 'put-aside') this.putAside(vassal, end.reason, 'it keeps failing');
    if (end.kind === 'failed' && !this.stopping && this.table.get(vassal.name) === vassal) {
      vassal.log.error({ reason: end.reason }, `Vassal ${vassal.name} failed: ${end.reason}; restarting it in ${end.restartInMs / 1000} s`);
      vassal.pendingStart = setTimeout(() => {
        vassal.pendingStart = undefined;
        vassal.restarts++;
        this.queue(vassal, () => this.startVassal(vassal));
      }, end.restartInMs);
    }
    // Room may have been made: the vassals waiting for it try again.
    for (const waiting of this.table.values()) if (waiting.state === 'waiting') this.queue(waiting, () => this.launch(waiting));
  }

  private named(name: string): Vassal {
    const vassal = this.table.get(name);
    if (vassal) return vassal;
    const known = [...this.table.keys()].sort();
    throw badUsage(`no vassal named ${JSON.stringify(name)}; the vassals are ${known.length > 0 ? known.join(', ') : '(none)'}`);
  }

  /** Run `action` after the vassal's earlier ones; its failure is logged (not the caller's to handle). */
  private queue(vassal: Vassal, action: () => Promise<unknown>): void {
    this.serial(vassal, action).catch(() => {});
  }

  private serial<T>(vassal: Vassal, action: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(vassal.name) ?? Promise.resolve()).then(action);
    const settled = next.catch((err) => vassal.log.error({ err }, `Vassal ${vassal.name}: ${String(err)}`));
    this.chains.set(vassal.name, settled);
    void settled.then(() => {
      if (this.chains.get(vassal.name) === settled) this.chains.delete(vassal.name);
    });
    return next;
  }
}
