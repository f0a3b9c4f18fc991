/**
 * `unicorn ctl [--socket PATH] COMMAND`: talk to a running server, or an emperor, through its control
 * socket. Each command does what its signal does (docs/SIGNALS.md) and returns once it is done;
 * docs/ctl.md has what each prints and its exit code.
 */
import { Command, CommanderError } from 'commander';
import { didYouMean } from '../config/nearest';
import { ExitCode } from '../shared/exit-codes';
import { ask, CtlError, findServer } from './client';
import { formatStatus, formatTotals } from './format';
import { formatEmperorTotals, formatVassals } from './format-vassals';
import { socketPathProblem } from './paths';
import type { ControlReply, ControlRequest, EmperorRequest } from './protocol';

/** `status` and `stats` are answered within a second by a running arbiter (once its workers have
 *  sent their counts); this bounds a hung one. */
const STATS_TIMEOUT_MS = 10_000;

export const COMMAND_NAMES = [
  'status',
  'stats',
  'vassals',
  'reload',
  'stop',
  'start',
  'scale',
  'add',
  'remove',
  'kill',
  'reopen-logs',
  'shutdown',
];

const NAME_FORMS = "the name of a vassal: its config file's name less .config.EXT (unicorn ctl vassals lists them)";

/** `stop "a/b" is not accepted: expected the name of a vassal…`; the emperor says whether it has one. */
function parseName(command: string, raw: string): string {
  const name = raw.trim();
  if (name === '' || /[/\\\0\n]/.test(name))
    throw new CtlError(`${command} ${JSON.stringify(raw)} is not accepted: expected ${NAME_FORMS}`, ExitCode.USAGE);
  return name;
}

/** `scale "x" is not accepted: expected a whole number of at least 1`, as settings are refused. */
function parseCount(command: string, raw: string, accepted = 'a whole number of at least 1'): number {
  const value = raw.trim();
  const count = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(count) || count < 1)
    throw new CtlError(`${command} ${JSON.stringify(raw)} is not accepted: expected ${accepted}`, ExitCode.USAGE);
  return count;
}

/** The server's answer: printed and exit 0, or a CtlError with its error (exit 1). */
function outcome(reply: ControlReply): string {
  if (!reply.ok) throw new CtlError(reply.error);
  return reply.message;
}

function buildProgram(env: NodeJS.ProcessEnv, print: (text: string) => void): Command {
  const program = new Command('unicorn ctl')
    .description('Talk to a running unicorn server through its control socket. Each command returns once it is done.')
    .option(
      '-s, --socket <PATH>',
      'the control socket (default: the one server whose socket is in $XDG_RUNTIME_DIR/unicorn, else /tmp/unicorn-UID)',
    )
    .helpOption('-h, --help')
    .exitOverride()
    .configureOutput({
      // Commander's own refusals (unknown option, missing argument) become one line, like ours.
      outputError: (text) => process.stderr.write(`unicorn ctl: ${text.trim().replace(/\n+/g, ' ')}\n`),
    })
    .addHelpText(
      'after',
      '\nExamples:\n  unicorn ctl status\n  unicorn ctl --socket /run/app/ctl.sock reload\n  unicorn ctl scale 8\n' +
        '  unicorn ctl stats --json\n  unicorn ctl reload site-a    # a vassal of an emperor',
    );
  const socket = async () => {
    const given = program.opts<{ socket?: string }>().socket;
    if (given === undefined) return findServer(env);
    if (given.trim() === '')
      throw new CtlError(`--socket ${JSON.stringify(given)} is not accepted: expected the path of a control socket`, ExitCode.USAGE);
    const problem = socketPathProblem(given);
    if (problem) throw new CtlError(`--socket ${JSON.stringify(given)} is not accepted: ${problem}`, ExitCode.USAGE);
    return given;
  };
  const send = async (request: ControlRequest | EmperorRequest) => print(`${outcome(await ask(await socket(), request))}\n`);
  /** What the server says of itself: an arbiter's stats, or an emperor's vassals. */
  const askStats = async () => {
    const file = await socket();
    const reply = await ask(file, { command: 'stats' }, { timeoutMs: STATS_TIMEOUT_MS });
    outcome(reply);
    return { file, reply: reply as Extract<ControlReply, { ok: true }> };
  };

  program
    .command('status')
    .description(
      'the arbiter and every worker: pid, id, age, state, requests, in flight, busy, memory, restarts, last heartbeat; ' +
        'an emperor: its vassals',
    )
    .option('--json', "as JSON: the stats object, or an emperor's vassals")
    .action(async (options: { json?: boolean }) => {
      const { reply } = await askStats();
      if (reply.emperor) print(options.json ? `${JSON.stringify(reply.emperor.vassals)}\n` : formatVassals(reply.emperor));
      else if (reply.stats) print(options.json ? `${JSON.stringify(reply.stats)}\n` : formatStatus(reply.stats));
    });
  program
    .command('stats')
    .description('the totals as `name value` lines; --json: everything status shows, as JSON, for monitors')
    .option('--json', 'print the whole stats object as one line of JSON')
    .action(async (options: { json?: boolean }) => {
      const { reply } = await askStats();
      if (reply.emperor) print(options.json ? `${JSON.stringify(reply.emperor)}\n` : formatEmperorTotals(reply.emperor));
      else if (reply.stats) print(options.json ? `${JSON.stringify(reply.stats)}\n` : formatTotals(reply.stats));
    });
  program
    .command('vassals')
    .description("an emperor's vassals: name, state, workers, memory, requests, last request, pid, and why a failed one failed")
    .option('--json', 'the vassals as one line of JSON')
    .action(async (options: { json?: boolean }) => {
      const { file, reply } = await askStats();
      if (!reply.emperor) {
        const pid = reply.stats ? ` (an arbiter, pid ${reply.stats.pid})` : '';
        throw new CtlError(
          `the server at ${file} is a single server${pid}, not an emperor: it has no vassals; unicorn ctl status shows its workers`,
        );
      }
      print(options.json ? `${JSON.stringify(reply.emperor.vassals)}\n` : formatVassals(reply.emperor));
    });
  program
    .command('reload')
    .description(
      'HUP: start new workers with the code now on disk; returns once they are all ready, or fails with why they could not boot. ' +
        'An emperor: reload vassal NAME, or every vassal without a name',
    )
    .argument('[NAME]', "an emperor's vassal")
    .action((name: string | undefined) =>
      send(name === undefined ? { command: 'reload' } : { command: 'reload', name: parseName('reload', name) }),
    );
  program
    .command('stop')
    .description("an emperor's vassal NAME stops gracefully, and stays stopped until start or a change of its file")
    .argument('<NAME>', 'the vassal')
    .action((name: string) => send({ command: 'stop', name: parseName('stop', name) }));
  program
    .command('start')
    .description("start an emperor's vassal NAME that was stopped, failed or put aside")
    .argument('<NAME>', 'the vassal')
    .action((name: string) => send({ command: 'start', name: parseName('start', name) }));
  program
    .command('scale')
    .description('run N workers; returns once N are ready')
    .argument('<N>', 'the number of workers, at least 1')
    .action((n: string) => send({ command: 'scale', count: parseCount('scale', n) }));
  program
    .command('add')
    .description('TTIN: N more workers (default 1); returns once they are ready')
    .argument('[N]', 'how many', '1')
    .action((n: string) => send({ command: 'add', count: parseCount('add', n) }));
  program
    .command('remove')
    .description('TTOU: N fewer workers (default 1), never below one; the oldest stop gracefully')
    .argument('[N]', 'how many', '1')
    .action((n: string) => send({ command: 'remove', count: parseCount('remove', n) }));
  program
    .command('kill')
    .description('replace the worker with this pid: it serves until its replacement is ready, then stops gracefully')
    .argument('<PID>', "the worker's pid (status lists them)")
    .action((pid: string) =>
      send({ command: 'kill', pid: parseCount('kill', pid, 'the pid of a worker, a whole number (unicorn ctl status lists them)') }),
    );
  program
    .command('reopen-logs')
    .description('USR1: reopen the log files in the arbiter and every worker')
    .action(() => send({ command: 'reopen-logs' }));
  program
    .command('shutdown')
    .description('TERM: stop gracefully (--quick: QUIT, at once); returns once the arbiter (or the emperor, and its vassals) has exited')
    .option('--quick', 'workers exit at once, as on QUIT or INT')
    .action(async (options: { quick?: boolean }) => {
      const file = await socket();
      await ask(file, { command: 'shutdown', quick: options.quick === true }, { onReply: (reply) => print(`${outcome(reply)}\n`) });
      print('The server has exited\n');
    });
  program.on('command:*', ([name]: string[]) => {
    throw new CtlError(
      `unknown command ${JSON.stringify(name)}${didYouMean(name!, COMMAND_NAMES)}; the commands are ${COMMAND_NAMES.join(', ')}`,
      ExitCode.USAGE,
    );
  });
  return program;
}

/** `argv` as node gives it: [node, unicorn, 'ctl', ...]. Exits with the command's code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<never> {
  const program = buildProgram(env, (text) => process.stdout.write(text));
  try {
    if (argv.length <= 3) {
      process.stderr.write(program.helpInformation());
      process.exit(ExitCode.USAGE);
    }
    await program.parseAsync(argv.slice(3), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      const helpOrVersion = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      await flushed(process.stdout);
      process.exit(helpOrVersion ? ExitCode.OK : ExitCode.USAGE);
    }
    if (!(err instanceof CtlError)) throw err;
    process.stderr.write(`unicorn ctl: error: ${err.message}\n`);
    await flushed(process.stdout);
    process.exit(err.exitCode);
  }
  await flushed(process.stdout);
  process.exit(ExitCode.OK);
}

/** What was written has left the process (a pipe is asynchronous on some systems). */
const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
