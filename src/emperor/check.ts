/**
 * `unicorn emperor --check`: what the emperor would run, without running it. Reads every vassal file
 * as the emperor reads it before a start, and prints one line per vassal, or why it would be refused:
 * for an operator before a deploy, and for a unit file's command line to be checked.
 */
import path from 'node:path';
import { formatAddress } from '../config/address';
import { formatDuration } from '../config/duration';
import { UnicornError } from '../shared/errors';
import type { EmperorOptions } from './options';
import { scanVassalFiles } from './vassal-files';
import { readVassalSettings } from './vassal-settings';

/** The report, and whether every vassal file is accepted. */
export async function checkVassals(options: EmperorOptions): Promise<{ lines: string[]; accepted: boolean }> {
  const control = options.controlSocket === false ? 'none' : (options.controlSocket ?? 'the default (PID.sock, as an arbiter’s)');
  const lines = [`vassals ${options.vassals}`, `control socket ${control}`];
  const { found, refused } = scanVassalFiles(options.vassals);
  let accepted = refused.length === 0;
  for (const { name, file } of found) {
    try {
      const settings = await readVassalSettings(name, file, options.vassals);
      const mode = settings.onDemand ? 'on-demand' : 'always';
      lines.push(`${name}  ${settings.bind.map(formatAddress).join(',')}  ${mode}  graceful ${formatDuration(settings.gracefulTimeout)}`);
    } catch (err) {
      if (!(err instanceof UnicornError)) throw err;
      lines.push(`${name}  refused: ${err.message}`);
      accepted = false;
    }
  }
  for (const { file, reason } of refused) lines.push(`${path.basename(file)}  refused: ${reason}`);
  if (found.length === 0 && refused.length === 0) lines.push(`no vassal files (NAME.config.EXT) in ${options.vassals}`);
  return { lines, accepted };
}
