/**
 * What the emperor needs of a vassal's settings, read from its file as the vassal itself will read
 * it (src/config/invocation.ts, with the vassal's name for `%n`): a broken file is refused here,
 * with the usual message naming the file and the key, before anything is spawned.
 */
import path from 'node:path';
import { type BindAddress, formatAddress } from '../config/address';
import { readInvocation } from '../config/invocation';
import { badConfig } from '../shared/errors';
import { VASSAL_NAME_VARIABLE } from '../vassal-ipc';

/** The path of bin/unicorn, which each vassal runs. */
export const UNICORN_BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'unicorn');

export interface VassalSettings {
  bind: BindAddress[];
  backlog: number;
  /** The most workers it may run (its --workers, or MAX of MIN:MAX): what the host limit counts. */
  workers: number;
  onDemand: boolean;
  /** How long its own graceful stop may take: the emperor waits this, and a margin, for it to exit. */
  gracefulTimeout: number;
}

/** The environment a vassal runs with, and its file is read with: the emperor's, and its name. */
export const vassalEnv = (name: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => ({
  ...env,
  [VASSAL_NAME_VARIABLE]: name,
});

/** Read `file` as vassal `name`'s, from `dir`; throws the UnicornError a start would refuse it with. */
export async function readVassalSettings(name: string, file: string, dir: string): Promise<VassalSettings> {
  const { settings, sources, configFile } = await readInvocation([process.execPath, UNICORN_BIN, '-c', file], vassalEnv(name), dir, {
    fresh: true,
    vassal: name,
  });
  // Else every vassal would take the default (or $PORT from the emperor's environment), and all but one fail to bind.
  if (!sources.bind?.startsWith(`${configFile?.label}: `)) {
    throw badConfig(
      `${configFile?.label ?? file} gives no bind: a vassal needs an address of its own, ` +
        'as in "bind": "unix:/run/apps/%n.sock" (%n is the vassal\'s name)',
    );
  }
  return {
    bind: settings.bind,
    backlog: settings.backlog,
    workers: settings.workerBounds.max,
    onDemand: settings.onDemand,
    gracefulTimeout: settings.gracefulTimeout,
  };
}

/** Whether a change from `before` to `after` needs the vassal started again rather than reloaded: a
 *  reload (HUP) keeps its sockets, and the emperor holds an on-demand vassal's. */
export function needsRestart(before: VassalSettings | undefined, after: VassalSettings): boolean {
  if (before === undefined) return false;
  const addresses = (settings: VassalSettings) => settings.bind.map(formatAddress).join(' ');
  return before.onDemand !== after.onDemand || addresses(before) !== addresses(after);
}
