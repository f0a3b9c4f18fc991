import { Command, CommanderError, Option } from 'commander';
import { Arbiter } from './arbiter/arbiter';
import { describeSettings, inapplicable, resolveSettings, SETTINGS, type RawOptions, type Resolved } from './config/settings';
import { UnicornError } from './errors';
import { ExitCode } from './exit-codes';
import { createLogger } from './log';
import { VERSION } from './version';

/** Refusals are one line on stderr, prefixed like every command-line tool's. */
function refuse(message: string, exitCode: number): never {
  process.stderr.write(`unicorn: error: ${message}\n`);
  process.exit(exitCode);
}

function buildProgram(): Command {
  const program = new Command('unicorn')
    .description('Serve a Node.js app with a pre-forked pool of worker processes.')
    .version(VERSION, '-v, --version')
    .argument('<MODULE[:EXPORT]>', 'the app: a module path or package, and the export that is the handler')
    .helpOption('-h, --help')
    .exitOverride()
    .configureOutput({
      // Commander's own refusals (unknown option, missing argument) become one line, like ours.
      outputError: (text) =>
        process.stderr.write(`unicorn: ${text.trim().replace(/\n+/g, ' ').replace(/^error: /, 'error: ')}\n`),
    });
  for (const setting of SETTINGS) {
    const env = 'env' in setting ? ` (env: ${setting.env})` : '';
    const option = new Option(setting.flags, `${setting.description}${env} [default: ${setting.defaultText}]`);
    if ('repeatable' in setting && setting.repeatable) {
      option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    }
    program.addOption(option);
  }
  program.option('--print-config', 'print the effective settings and where each came from, then exit');
  program.addHelpText(
    'after',
    '\nDurations: 30s, 2m, 500ms, or a number of seconds.\nExamples:\n  unicorn --workers 4 app:handler\n  unicorn -k async -b 0.0.0.0:8080 -b unix:/run/app.sock server.js:app',
  );
  return program;
}

/**
 * Read the settings from the command line and the environment; throws a UnicornError for a bad
 * value. `cwd` is where unicorn was started: relative paths are resolved from it (and --chdir).
 */
export function readSettings(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Resolved & { printConfig: boolean } {
  const program = buildProgram();
  program.parse(argv);
  const { printConfig, ...flags } = program.opts<RawOptions & { printConfig?: boolean }>();
  return { ...resolveSettings(program.args[0]!, flags, env, cwd), printConfig: printConfig === true };
}

/** Parse the command line into settings, or refuse with exit code 2. */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ReturnType<typeof readSettings> {
  try {
    return readSettings(argv, env, cwd);
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpOrVersion = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      process.exit(helpOrVersion ? ExitCode.OK : ExitCode.USAGE);
    }
    if (err instanceof UnicornError) refuse(err.message, err.exitCode);
    throw err;
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const launchCwd = process.cwd();
  const resolved = parseCommandLine(argv, process.env, launchCwd);
  if (resolved.printConfig) {
    process.stdout.write(describeSettings(resolved));
    return;
  }
  const { settings } = resolved;
  if (settings.chdir) process.chdir(settings.chdir);
  const log = createLogger({ role: 'arbiter' });
  for (const warning of inapplicable(resolved)) log.warn(warning);
  // HUP reads the command line and the environment again.
  const reloadSettings = () => readSettings(argv, process.env, launchCwd).settings;
  let code: number;
  try {
    code = await new Arbiter(settings, log, { reloadSettings, launchCwd }).run();
  } catch (err) {
    if (!(err instanceof UnicornError)) throw err;
    log.error({ code: err.code }, err.message);
    refuse(err.message, err.exitCode);
  }
  process.exit(code);
}
