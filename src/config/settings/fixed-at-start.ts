/**
 * What a reload (HUP) cannot change: the settings marked `fixedAtStart`, which the arbiter acted on
 * at start (the sockets it bound, the workers' identity and umask, the error log it opened once).
 * Changing them means binding or opening again, which takes a restart or a USR2 re-exec.
 */
import { display } from './describe';
import { type OptionKey, SETTINGS, type Settings } from './registry';
import { longFlag } from './resolve';

export interface KeptAtStart {
  /** The re-read settings, with the running value of every fixed-at-start one. */
  settings: Settings;
  /** The flags of the fixed-at-start settings whose re-read value differs, in --help order. */
  ignored: string[];
  /** The one warning that names them and the values kept; undefined when none differs. */
  warning: string | undefined;
}

/** The settings a reload starts the new workers with: `reread`, less what only a restart changes. */
export function keepFixedAtStart(running: Settings, reread: Settings, env: NodeJS.ProcessEnv = process.env): KeptAtStart {
  const settings: Settings = { ...reread };
  const kept: Partial<Record<OptionKey, unknown>> = settings;
  const ignored: string[] = [];
  const values: string[] = [];
  for (const setting of SETTINGS) {
    if (!setting.fixedAtStart) continue;
    // Compared as --print-config shows them: the same addresses or account by any spelling.
    const now = display(setting, running[setting.key], env);
    if (display(setting, reread[setting.key], env) !== now) {
      ignored.push(longFlag(setting));
      values.push(`${longFlag(setting)} ${now}`);
    }
    kept[setting.key] = running[setting.key];
  }
  if (ignored.length === 0) return { settings, ignored, warning: undefined };
  const warning = `${ignored.join(', ')} changes take effect on a restart or USR2 re-exec; keeping ${values.join(', ')}`;
  return { settings, ignored, warning };
}
