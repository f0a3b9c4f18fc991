import { CommanderError } from 'commander';
import { Arbiter } from './arbiter/arbiter';
import { catchSignals, deliverSignals, releaseSignals } from './arbiter/signals';
import { tellEmperorFailed } from './arbiter/vassal/vassal';
import { formatAddress } from './config/address';
import { formatDuration } from './config/duration';
import { pluginNames } from './config/file';
import { type Invocation, readInvocation } from './config/invocation';
import { describeSettings, inapplicable } from './config/settings';
import { loadTls } from './config/tls';
import { formatWorkers } from './config/worker-count';
import { loadPlugins } from './hooks/load';
import { HookRunner, withinTimeout } from './hooks/run';
import { badUsage, UnicornError } from './shared/errors';
import { ExitCode } from './shared/exit-codes';
import { createLogger, defaultFormat } from './shared/log';
import { vassalName } from './vassal-ipc';

// What only `unicorn ctl`, --help and --check-config use is loaded when they run: the arbiter does
// without it, and the worker side brings node:http with it (benchmarks/RESULTS.md, arbiter memory).
const ctlModule = () => require('./control/ctl') as typeof import('./control/ctl');
const emperorModule = () => require('./emperor/main') as typeof import('./emperor/main');
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

/** What --help shows after the options. */
const helpAfter = () =>
  '\nSettings come from, lowest first: defaults, the config file, UNICORN_CMD_ARGS, the command line.' +
  '\nDurations: 30s, 2m, 500ms, or a number of seconds.\nExamples:\n  unicorn --workers 4 app:handler' +
  '\n  unicorn -k async -b 0.0.0.0:8080 -b unix:/run/app.sock server.js:app' +
  `\n\nA running server is managed with \`unicorn ctl COMMAND\` (${ctlModule().COMMAND_NAMES.join(', ')}); ` +
  '`unicorn ctl --help` describes them.\nMany apps are run by `unicorn emperor DIR` (`unicorn emperor --help`).';

/** Read the settings, or refuse with exit code 2. */
async function readOrRefuse(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Invocation> {
  try {
    return await readInvocation(argv, env, cwd, { helpAfter, vassal: vassalName(env) });
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
  // So is `unicorn emperor DIR`: the signals bin/unicorn caught are the emperor's to take.
  if (argv[2] === 'emperor') {
    await emperorModule().main(argv, deliverSignals);
    return;
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
      const next = await readInvocation(argv, process.env, launchCwd, { fresh: true, vassal: vassalName() });
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
