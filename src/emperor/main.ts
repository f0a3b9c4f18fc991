/**
 * `unicorn emperor [DIR]`: a program of its own beside the server's command line (src/cli.ts loads
 * it only for this command). Reads the emperor's settings, refusing a bad one in one line, and runs
 * the emperor until it is stopped.
 */
import { CommanderError } from 'commander';
import { MetricsServer } from '../../hooks/prometheus/server';
import { formatAddress } from '../config/address';
import { UnicornError } from '../shared/errors';
import { ExitCode } from '../shared/exit-codes';
import { createLogger, type Logger } from '../shared/log';
import { renderVassalMetrics } from '../shared/vassal-metrics';
import { checkVassals } from './check';
import { serveEmperorControl } from './control';
import { Emperor } from './emperor';
import { type EmperorOptions, readEmperorOptions } from './options';

/** `--metrics`: the vassals' series, from the emperor's own view of them (hooks/prometheus.md). Refused in one line
 *  when the address cannot be listened on. */
async function serveMetrics(address: { host: string; port: number }, emperor: Emperor, log: Logger): Promise<MetricsServer> {
  const given = `--metrics ${formatAddress({ kind: 'tcp', ...address })}`;
  try {
    return await MetricsServer.start({ address, given, log, render: () => renderVassalMetrics(emperor.vassals()) });
  } catch (err) {
    process.stderr.write(`unicorn: error: ${(err as Error).message}\n`);
    process.exit(ExitCode.ERROR);
  }
}

/** `takeSignals`: from now on the signals caught since the process began go to the emperor. */
export async function main(argv: string[], takeSignals: (to: (signal: NodeJS.Signals) => void) => void): Promise<never> {
  let options: EmperorOptions;
  try {
    options = await readEmperorOptions(argv.slice(3), process.env, process.cwd());
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpOrVersion = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      process.exit(helpOrVersion ? ExitCode.OK : ExitCode.USAGE);
    }
    if (!(err instanceof UnicornError)) throw err;
    process.stderr.write(`unicorn: error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (options.check) {
    const { lines, accepted } = await checkVassals(options);
    process.stdout.write(`${lines.join('\n')}\n`);
    process.exit(accepted ? ExitCode.OK : ExitCode.USAGE);
  }
  const log = createLogger({ role: 'emperor' }, { errorLogfile: '-', logLevel: options.logLevel, logFormat: options.logFormat });
  const emperor = new Emperor(options, log);
  let control: Awaited<ReturnType<typeof serveEmperorControl>>;
  try {
    control = await serveEmperorControl(options.controlSocket, emperor, log);
  } catch (err) {
    if (!(err instanceof UnicornError)) throw err;
    process.stderr.write(`unicorn: error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const metrics = options.metrics && (await serveMetrics(options.metrics, emperor, log));
  const code = await emperor.run(takeSignals);
  control?.removeFile();
  await metrics?.close();
  process.exit(code);
}
