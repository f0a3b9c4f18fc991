/**
 * Reading one unicorn's settings from every source: the command line, UNICORN_CMD_ARGS, the config
 * file and the environment's defaults. The server's command line (src/cli.ts) and the emperor, which
 * reads each vassal's file before it starts it (src/emperor), both read them here.
 */
import { Command, CommanderError, Option } from 'commander';
import { badUsage } from '../shared/errors';
import { VERSION } from '../shared/version';
import { identityProblem } from './accounts';
import { type ConfigFile, findConfigFile, loadConfigFile } from './file';
import { explainUnknownOption } from './gunicorn-only';
import {
  type AppSource,
  type Layer,
  longFlag,
  parseSetting,
  type RawOptions,
  type Resolved,
  resolveLayers,
  SETTINGS,
  type SettingSpec,
} from './settings';
import { refuseOnDemandAlone } from './settings/elastic';
import { splitArgs } from './split-args';

/** The command line's options, from the registry. `actions`: also --print-config and --check-config
 *  (not in UNICORN_CMD_ARGS, which carries settings only). */
function buildProgram(actions: boolean, helpAfter?: () => string): Command {
  const program = new Command('unicorn').exitOverride();
  if (actions) {
    program
      .argument('[MODULE[:EXPORT]]', 'the app: a module path or package, and the export that is the handler (or `app` in the config file)')
      .description('Serve a Node.js app with a pre-forked pool of worker processes.')
      .version(VERSION, '-v, --version')
      .helpOption('-h, --help')
      .configureOutput({
        // Commander's own refusals (unknown option, missing argument) become one line, like ours.
        outputError: (text) => {
          const line = text.trim().replace(/\n+/g, ' ');
          const gunicornOnly = explainUnknownOption(line);
          process.stderr.write(`unicorn: ${gunicornOnly ? `error: ${gunicornOnly}` : line}\n`);
        },
      });
  } else {
    program
      .helpOption(false)
      .allowExcessArguments(true)
      .configureOutput({ outputError: () => {} });
  }
  for (const setting of SETTINGS as readonly SettingSpec[]) {
    const env = setting.env ? ` (env: ${setting.env})` : '';
    const option = new Option(setting.flags, `${setting.description}${env} [default: ${setting.defaultText}]`);
    // `--mount` fills `mounts`, as the config file names the list.
    if (option.attributeName() !== setting.key) option.attributeName = () => setting.key;
    if (setting.repeatable) {
      option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    }
    program.addOption(option);
    if (setting.negatable) program.addOption(new Option(longFlag(setting).replace('--', '--no-'), setting.negatable));
  }
  if (actions) {
    program.option('--print-config', 'print the effective settings and where each came from, then exit');
    program.option('--check-config', 'check the settings, the config file, the plugins and the app, then exit 0 (or 2 with the problem)');
    if (helpAfter) program.addHelpText('after', helpAfter);
  }
  return program;
}

export interface ReadOptions {
  /** Read the config file anew (a HUP). */
  fresh?: boolean;
  /** The vassal's name, when an emperor started this unicorn (or reads its file): the config file
   *  is read as that vassal's (file.ts, `%n`). */
  vassal?: string;
  /** What --help shows after the options (a function, so that what it names loads for --help only). */
  helpAfter?: () => string;
}

export interface Invocation extends Resolved {
  appSource: string;
  configFile: ConfigFile | undefined;
  printConfig: boolean;
  checkConfig: boolean;
}

/**
 * Read the settings from every source: the command line, UNICORN_CMD_ARGS, the config file and the
 * environment's defaults; throws a UnicornError for a bad value. `cwd` is where unicorn was started:
 * the config file is looked for there, and relative paths are resolved from it (and --chdir).
 */
export async function readInvocation(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  { fresh, vassal, helpAfter }: ReadOptions = {},
): Promise<Invocation> {
  const program = buildProgram(true, helpAfter);
  program.parse(argv);
  const { printConfig, checkConfig, ...flags } = program.opts<RawOptions & { printConfig?: boolean; checkConfig?: boolean }>();
  const fromEnv = env.UNICORN_CMD_ARGS ? parseCmdArgs(env.UNICORN_CMD_ARGS) : undefined;

  const configFlag = flags.config ?? fromEnv?.config;
  const configSource = flags.config !== undefined ? '--config' : 'UNICORN_CMD_ARGS: --config';
  const configPath =
    configFlag !== undefined ? (parseSetting('config', String(configFlag), configSource, cwd) as string) : findConfigFile(cwd);
  const configFile = configPath ? await loadConfigFile(configPath, cwd, { fresh, vassal }) : undefined;

  const layers: Layer[] = [];
  if (configFile) layers.push({ label: `${configFile.label}: `, names: 'keys', values: configFile.values });
  if (fromEnv) layers.push({ label: 'UNICORN_CMD_ARGS: ', names: 'flags', values: fromEnv });
  layers.push({ label: '', names: 'flags', values: flags });

  const appArg = program.args[0];
  const app: AppSource | undefined =
    appArg !== undefined
      ? { raw: appArg, source: 'command line' }
      : configFile?.app !== undefined
        ? { raw: configFile.app, source: `${configFile.label}: app` }
        : undefined;
  const resolved = resolveLayers(app, layers, env, cwd);
  // Who the workers run as depends on --user, --group and --initgroups together, and on who we are.
  const identity = identityProblem(resolved.settings);
  if (identity) throw badUsage(identity);
  refuseOnDemandAlone(resolved.settings, resolved.sources, vassal);
  if (configFile && configFlag === undefined) {
    resolved.settings.config = configFile.file;
    resolved.sources.config = 'found where unicorn started';
  }
  // No app at / is allowed when --mount or --static serve something (resolveLayers refuses nothing at all).
  return {
    ...resolved,
    appSource: app?.source ?? 'default',
    configFile,
    printConfig: printConfig === true,
    checkConfig: checkConfig === true,
  };
}

/** UNICORN_CMD_ARGS: flags in a string, as a PaaS sets them; settings only, no app. */
function parseCmdArgs(value: string): RawOptions {
  const program = buildProgram(false);
  try {
    program.parse(splitArgs(value), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      throw badUsage(
        `UNICORN_CMD_ARGS: ${explainUnknownOption(err.message) ?? err.message.replace(/^error: /, '').replace(/\s*\n+\s*/g, ' ')}`,
      );
    }
    throw err;
  }
  if (program.args.length > 0) {
    throw badUsage(
      `UNICORN_CMD_ARGS ${JSON.stringify(value)} is not accepted: it gives ${JSON.stringify(program.args[0])}, ` +
        'but takes flags only; name the app on the command line or in the config file',
    );
  }
  return program.opts<RawOptions>();
}
