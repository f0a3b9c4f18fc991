import { Command, CommanderError, Option } from 'commander';
import { Arbiter } from './arbiter/arbiter';
import { catchSignals, releaseSignals } from './arbiter/signals';
import { tellEmperorFailed } from './arbiter/vassal/vassal';
import { identityProblem } from './config/accounts';
import { formatAddress } from './config/address';
import { formatDuration } from './config/duration';
import { type ConfigFile, findConfigFile, loadConfigFile, pluginNames } from './config/file';
import { explainUnknownOption } from './config/gunicorn-only';
import {
  type AppSource,
  describeSettings,
  inapplicable,
  type Layer,
  longFlag,
  parseSetting,
  type RawOptions,
  type Resolved,
  resolveLayers,
  SETTINGS,
  type SettingSpec,
} from './config/settings';
import { splitArgs } from './config/split-args';
import { loadTls } from './config/tls';
import { formatWorkers } from './config/worker-count';
import { loadPlugins } from './hooks/load';
import { HookRunner, withinTimeout } from './hooks/run';
import { badUsage, UnicornError } from './shared/errors';
import { ExitCode } from './shared/exit-codes';
import { createLogger, defaultFormat } from './shared/log';
import { VERSION } from './shared/version';
import { vassalName } from './vassal-ipc';

// What only `unicorn ctl`, --help and --check-config use is loaded when they run: the arbiter does
// without it, and the worker side brings node:http with it (benchmarks/RESULTS.md, arbiter memory).
const ctlModule = () => require('./control/ctl') as typeof import('./control/ctl');
const workerModules = () => ({
  ...(require('./worker/accept') as typeof import('./worker/accept')),
  ...(require('./worker/site') as typeof import('./worker/site')),
});

/** Refusals are one line on stderr, prefixed like every command-line tool's. */
function refuse(message: string, exitCode: number): never {
  process.stderr.write(`unicorn: error: ${message}\n`);
  tellEmperorFailed(message);
  process.exit(exitCode);
}

/** The command line's options, from the registry. `actions`: also --print-config and --check-config
 *  (not in UNICORN_CMD_ARGS, which carries settings only). */
function buildProgram(actions: boolean): Command {
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
    // A function, so that the control command's module is loaded for --help only.
    program.addHelpText(
      'after',
      () =>
        '\nSettings come from, lowest first: defaults, the config file, UNICORN_CMD_ARGS, the command line.' +
        '\nDurations: 30s, 2m, 500ms, or a number of seconds.\nExamples:\n  unicorn --workers 4 app:handler' +
        '\n  unicorn -k async -b 0.0.0.0:8080 -b unix:/run/app.sock server.js:app' +
        `\n\nA running server is managed with \`unicorn ctl COMMAND\` (${ctlModule().COMMAND_NAMES.join(', ')}); ` +
        '`unicorn ctl --help` describes them.',
    );
  }
  return program;
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
 * `fresh`: read the config file anew (a HUP).
 */
export async function readInvocation(argv: string[], env: NodeJS.ProcessEnv, cwd: string, fresh = false): Promise<Invocation> {
  const program = buildProgram(true);
  program.parse(argv);
  const { printConfig, checkConfig, ...flags } = program.opts<RawOptions & { printConfig?: boolean; checkConfig?: boolean }>();
  const fromEnv = env.UNICORN_CMD_ARGS ? parseCmdArgs(env.UNICORN_CMD_ARGS) : undefined;

  const configFlag = flags.config ?? fromEnv?.config;
  const configSource = flags.config !== undefined ? '--config' : 'UNICORN_CMD_ARGS: --config';
  const configPath =
    configFlag !== undefined ? (parseSetting('config', String(configFlag), configSource, cwd) as string) : findConfigFile(cwd);
  const configFile = configPath ? await loadConfigFile(configPath, cwd, { fresh }) : undefined;

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
      `UNICORN_CMD_ARGS ${JSON.stringify(value)} is not accepted: it gives ${JSON.stringify(program.args[0])}, but takes flags only; name the app on the command line or in the config file`,
    );
  }
  return program.opts<RawOptions>();
}

/** Read the settings, or refuse with exit code 2. */
async function readOrRefuse(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Invocation> {
  try {
    return await readInvocation(argv, env, cwd);
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpOrVersion = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      process.exit(helpOrVersion ? ExitCode.OK : ExitCode.USAGE);
    }
    if (err instanceof UnicornError) refuse(err.message, err.exitCode);
    throw err;
  }
}

/**
 * --check-config: what a start would load, loaded here, without binding or forking: the plugins
 * and the app. Any problem is a refusal with exit code 2.
 */
async function checkConfig(invocation: Invocation): Promise<void> {
  const { settings } = invocation;
  const { loadSite, refuseAppListen } = workerModules();
  try {
    loadTls(settings, invocation.sources);
    const plugins = await loadPlugins(invocation.configFile, settings.hook, process.cwd());
    refuseAppListen(undefined, settings.bind.map(formatAddress), () => false);
    const site = await loadSite(settings, process.cwd());
    const names = plugins.map((p) => p.name).join(', ') || 'none';
    const served =
      site.handler.shape === 'mounts' ? `serving ${site.description}` : `app ${settings.app!.raw} (${site.handler.shape} handler)`;
    process.stdout.write(
      `Configuration OK: ${served}, ${formatWorkers(settings.workerBounds)} ${settings.workerClass} workers, ` +
        `config file ${invocation.configFile?.label ?? '(none)'}, plugins: ${names}\n`,
    );
  } catch (err) {
    if (err instanceof UnicornError) refuse(err.message, ExitCode.USAGE);
    throw err;
  }
}

/**
 * A reader that has gone (`unicorn --help | head -1`) closes the pipe: what is left to write is
 * dropped, and the command ends as it would have, not with Node's unhandled EPIPE stack.
 */
function dropOutputToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  dropOutputToClosedPipes();
  // `unicorn ctl …` is a program of its own: the server's command line takes an app positional.
  if (argv[2] === 'ctl') {
    releaseSignals();
    await ctlModule().main(argv);
  }
  // Already caught by bin/unicorn; here for a start through this module alone.
  catchSignals();
  const launchCwd = process.cwd();
  const invocation = await readOrRefuse(argv, process.env, launchCwd);
  if (invocation.printConfig || invocation.checkConfig) releaseSignals();
  if (invocation.printConfig) {
    const { configFile } = invocation;
    const plugins =
      configFile && configFile.plugins.length > 0 ? { names: pluginNames(configFile), source: `${configFile.label}: plugins` } : undefined;
    process.stdout.write(describeSettings(invocation, invocation.appSource, { plugins, env: process.env }));
    return;
  }
  const { settings } = invocation;
  if (settings.chdir) process.chdir(settings.chdir);
  if (invocation.checkConfig) {
    await checkConfig(invocation);
    // The app or a plugin may have left a timer or a socket open: the check is done regardless.
    process.exit(ExitCode.OK);
  }
  // Settled here, so that the workers write the same format to the same terminal.
  settings.logFormat ??= defaultFormat(settings.errorLogfile);
  const log = createLogger({ role: 'arbiter', vassal: vassalName() }, settings);
  for (const warning of inapplicable(invocation)) log.warn(warning);
  // Before anything is bound: a certificate that cannot serve is a bad value like any other.
  let tls: ReturnType<typeof loadTls>;
  try {
    tls = loadTls(settings, invocation.sources);
  } catch (err) {
    if (err instanceof UnicornError) refuse(err.message, err.exitCode);
    throw err;
  }
  for (const warning of tls?.warnings ?? []) log.warn(warning);
  // HUP reads every source again, and loads the plugins as the new workers will (and throws them
  // away: the arbiter keeps its own), so that a config whose hooks no longer load is refused too.
  const reloadSettings = () => {
    const reread = async () => {
      const next = await readInvocation(argv, process.env, launchCwd, true);
      // Settled as at start, so that a reload compares the format the arbiter writes with it.
      next.settings.logFormat ??= defaultFormat(next.settings.errorLogfile);
      await loadPlugins(next.configFile, next.settings.hook, process.cwd());
      // The certificate files as they are now: a renewed certificate is served by the new workers.
      const nextTls = loadTls(next.settings, next.sources);
      for (const warning of nextTls?.warnings ?? []) log.warn(warning);
      return { settings: next.settings, configSource: next.configFile?.source, tls: nextTls?.material };
    };
    // A config function that never settles must not block every later reload.
    return withinTimeout(reread(), settings.hookTimeout, () =>
      badUsage(`reading the configuration did not finish within --hook-timeout ${formatDuration(settings.hookTimeout)}`),
    );
  };
  let code: number;
  try {
    const hooks = new HookRunner(await loadPlugins(invocation.configFile, settings.hook, process.cwd()), settings.hookTimeout, log);
    code = await new Arbiter(settings, log, {
      reloadSettings,
      launchCwd,
      hooks,
      configSource: invocation.configFile?.source,
      tls: tls?.material,
    }).run();
  } catch (err) {
    if (!(err instanceof UnicornError)) throw err;
    log.error({ code: err.code }, err.message);
    refuse(err.message, err.exitCode);
  }
  process.exit(code);
}
