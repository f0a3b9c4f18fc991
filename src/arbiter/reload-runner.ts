/**
 * A reload (HUP, `ctl reload`, --reload's file changes) carried out as reload.ts decides: the
 * configuration is read again in the background, onReload runs, the new configuration is taken or
 * the saved one comes back, and the `ctl reload` requests waiting for it are answered. The new
 * workers are forked by Staffing like any others; their readiness or failure ends the reload here.
 */
import path from 'node:path';
import type { ConfigSource } from '../config/file';
import { appMounts } from '../config/mount-spec';
import { keepFixedAtStart, type Settings } from '../config/settings';
import type { TlsMaterial } from '../config/tls';
import { withinBounds } from '../config/worker-count';
import type { ControlReply } from '../control/protocol';
import type { PendingReplies } from '../control/server';
import type { Logger } from '../shared/log';
import { resolveModule } from '../shared/resolve';
import type { Reload } from './reload';
import type { Staffing } from './staffing';
import { warnOfConnectionCap } from './start-up';
import { type ReloadWatcher, watchForReload } from './watch';

/** The settings, and the config file's text as read when they were (workers import that text),
 *  and the TLS files' (workers serve with that). */
export interface Configuration {
  settings: Settings;
  configSource: ConfigSource | undefined;
  tls: TlsMaterial | undefined;
}

/** The configuration in force and the worker count: what a reload that fails goes back to. */
export interface InForce extends Configuration {
  target: number;
}

/** The configuration read again, or why it was refused. */
export type Reread = { configuration: Configuration } | { error: Error };

export interface ReloadRunnerContext {
  log: Logger;
  reload: Reload<InForce>;
  /** `ctl reload` replies wait here for the reload's outcome. */
  pending: PendingReplies;
  staffing: Pick<Staffing, 'stopPrevious' | 'stopGeneration'>;
  stopping: () => boolean;
  /** Read the configuration again; rejects with a UnicornError when it no longer validates. */
  read: () => Promise<Configuration>;
  /** Hand the configuration read (or the files changed) to the loop, as an event. */
  reread: (reread: Reread) => void;
  filesChanged: (files: string[]) => void;
  inForce: () => InForce;
  /** Take `configuration`, and `target` as the worker count unless it is undefined. */
  take: (configuration: Configuration, target: number | undefined) => void;
  /** `then` once onReload has run, seeing `next`, with its failure. */
  afterOnReload: (next: Settings, then: (err?: Error) => void) => void;
}

export class ReloadRunner {
  /** --reload's file watcher. */
  private watcher: ReloadWatcher | undefined;

  constructor(private readonly context: ReloadRunnerContext) {}

  /**
   * Read the configuration again (in the background: the loop goes on) and start a full set of
   * workers with it. The old workers serve until every new one is ready (complete); if one fails
   * first, the new ones are stopped and the old ones keep serving (fail). A reload asked for during
   * one waits for it.
   */
  begin(): void {
    const { context } = this;
    if (!context.reload.begin()) {
      context.log.info('A reload is in progress; this one follows it');
      return;
    }
    context.read().then(
      (configuration) => context.reread({ configuration }),
      (error: Error) => context.reread({ error }),
    );
  }

  /** The configuration has been read again: refuse it, or run onReload and start the new workers. */
  start(reread: Reread): void {
    const { context } = this;
    const { log, reload } = context;
    if (context.stopping()) return;
    if ('error' in reread) {
      reload.refused();
      const message = `Reload refused: ${reread.error.message}; the running configuration is kept`;
      log.error({ err: reread.error }, message);
      // No onReload ran: no whenReady either (systemd heard of no reload to end).
      this.end({ ok: false, error: message });
      return;
    }
    const running = context.inForce();
    // The sockets, the workers' identity and the error log stay as the arbiter set them up at start.
    const { settings: next, warning } = keepFixedAtStart(running.settings, reread.configuration.settings);
    if (warning) log.warn(warning);
    if (next.workerClass !== running.settings.workerClass || next.workerConnections !== running.settings.workerConnections) {
      warnOfConnectionCap(next, log);
    }
    // onReload sees the new settings; the arbiter takes them once it has run.
    context.afterOnReload(next, (err) => {
      if (context.stopping()) return;
      if (err) {
        const message = `Reload cancelled: ${err.message}; the running configuration is kept`;
        log.error({ err }, message);
        reload.cancelled();
        this.end({ ok: false, error: message });
        return;
      }
      const { targetSet } = reload.start(context.inForce());
      // A count the load moves keeps where the load has it, within the new bounds.
      const count = next.workerBounds.by === 'load' ? withinBounds(context.inForce().target, next.workerBounds).count : next.workers;
      context.take({ ...reread.configuration, settings: next }, targetSet ? undefined : count);
      const message = `Reloading: starting ${context.inForce().target} new workers; the current ones serve until all are ready`;
      log.info({ generation: reload.generation }, message);
    });
  }

  /** Every new worker is ready: the previous ones stop. */
  complete(): void {
    const { reload, staffing, log } = this.context;
    const stopped = staffing.stopPrevious(reload.generation);
    const message = `Reload complete: ${this.context.inForce().target} new workers ready; stopping ${stopped} previous workers`;
    log.info({ generation: reload.generation }, message);
    reload.completed();
    this.end({ ok: true, message });
  }

  /** A new worker failed: the new ones stop and the saved configuration comes back. `detail`: why
   *  the worker could not boot, as it said, for `ctl reload` (the log has it already). */
  fail(why: string, detail?: string): void {
    const { reload, staffing, log } = this.context;
    staffing.stopGeneration(reload.generation);
    const { saved, targetSet } = reload.failed();
    this.context.take(saved, targetSet ? undefined : saved.target);
    log.error(`Reload failed: ${why}; the previous workers keep serving`);
    this.end({ ok: false, error: `Reload failed: ${why}${detail ? `: ${detail}` : ''}; the previous workers keep serving` });
  }

  /** --reload: watch the app's directory, the extra paths and the config file. */
  watch(settings: Settings, ignoreFiles: string[]): void {
    const { config, pid, reloadExtraFile } = settings;
    const cwd = process.cwd();
    // Each app's directory: the first app's is the root, the other mounts' are watched beside it.
    const [root = cwd, ...others] = appMounts(settings).map(({ app }) => {
      const resolution = resolveModule(app.module, cwd);
      // An app that is an installed package: its project is the working directory.
      return 'file' in resolution && !resolution.file.split(path.sep).includes('node_modules') ? path.dirname(resolution.file) : cwd;
    });
    this.watcher = watchForReload({
      root,
      extra: [...reloadExtraFile, ...new Set(others.filter((dir) => dir !== root)), ...(config ? [config] : [])],
      cwd,
      ignoreFiles: [...(pid ? [pid, `${pid}.2`] : []), ...ignoreFiles],
      onChange: (files) => this.context.filesChanged(files),
      onError: (err) => this.context.log.error({ err }, `--reload: ${err.message}`),
    });
    void this.watcher.ready.then(() => this.context.log.info({ root, extra: reloadExtraFile }, `Watching ${root} for changes (--reload)`));
  }

  /** --reload: files of the app changed. */
  onFilesChanged(files: string[]): void {
    if (this.context.stopping()) return;
    this.context.log.info({ files }, `Reloading: ${describeFiles(files)} changed (--reload)`);
    this.begin();
  }

  /** The server is stopping: no file change starts a reload. */
  stopWatching(): void {
    void this.watcher?.close();
    this.watcher = undefined;
  }

  /** `outcome` answers the `ctl reload` requests waiting for this reload, before a queued one begins. */
  private end(outcome: ControlReply): void {
    this.context.pending.reloadEnded(this.context.reload.begun, outcome);
    if (this.context.reload.takeQueued()) this.begin();
  }
}

/** `app.js`, or `app.js and 2 more files`, relative to the working directory. */
function describeFiles(files: string[]): string {
  const first = path.relative(process.cwd(), files[0]!) || files[0]!;
  return files.length === 1 ? first : `${first} and ${files.length - 1} more files`;
}
