/** `--print-config`: the effective settings, one line each, with where each value came from. */

import { PEER_LIST_FORMS } from '../../shared/trusted-peers';
import { ADDRESS_FORMS, type BindAddress, formatAddress } from '../address';
import { DURATION_FORMS, formatDuration } from '../duration';
import { formatSizeExactly, SIZE_FORMS } from '../size';
import { type RegisteredSpec, SETTINGS } from './registry';
import type { Resolved } from './resolve';

/** What --print-config shows besides the settings: the config file's plugins, and the environment
 *  defaults are settled in. */
export interface DescribeOptions {
  /** The config file's `plugins` as it names them, and its label for the source. */
  plugins?: { names: string[]; source: string };
  env?: NodeJS.ProcessEnv;
}

/**
 * The effective settings as `--print-config` shows them: one line each, with the value in the
 * form a flag takes and where it came from. The config file's plugins come before --hook's, the
 * order they load in.
 */
export function describeSettings({ settings, sources }: Resolved, appSource: string, options: DescribeOptions = {}): string {
  const { plugins, env = process.env } = options;
  const rows: Array<[string, string, string]> = [['app', settings.app?.raw ?? '(none)', appSource]];
  for (const setting of SETTINGS) {
    if (setting.key === 'hook') rows.push(['plugins', plugins?.names.join(' ') || '(none)', plugins?.source ?? 'default']);
    // --workers as given (1:4, auto (2)), not only the count it starts with.
    const value = setting.key === 'workers' ? settings.workerBounds : settings[setting.key];
    rows.push([setting.key, display(setting, value, env), sources[setting.key]]);
  }
  const width = (column: 0 | 1) => Math.max(...rows.map((row) => row[column].length));
  const lines = rows.map(([key, value, source]) => `${key.padEnd(width(0))}  ${value.padEnd(width(1))}  ${source}`);
  return `${lines.join('\n')}\n`;
}

export function display(setting: RegisteredSpec, value: unknown, env: NodeJS.ProcessEnv): string {
  if (value === undefined && setting.unsetText) return setting.unsetText(env);
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return '(none)';
  if (setting.display) return (setting.display as (value: unknown) => string)(value);
  if (setting.accepted === ADDRESS_FORMS) return (value as BindAddress[]).map(formatAddress).join(' ');
  if (setting.accepted.startsWith(DURATION_FORMS)) return value === 0 ? '0' : formatDuration(value as number);
  if (setting.accepted === SIZE_FORMS) return value === 0 ? '0' : formatSizeExactly(value as number);
  if (setting.accepted === PEER_LIST_FORMS) return (value as string[]).filter(Boolean).join(',') || '(none)';
  if (Array.isArray(value)) return value.join(' ');
  return String(value);
}
