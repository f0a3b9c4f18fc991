/**
 * The reaper: one small /bin/sh process per arbiter that kills the workers a killed arbiter leaves
 * stuck. A worker whose event loop turns sees its IPC channel close and drains by itself within
 * --graceful-timeout (its own timer ends it then); one stuck in a loop never will, and holds the
 * listening sockets for good. The arbiter writes the reaper the list of its workers on every change;
 * when the arbiter dies, even by SIGKILL, the reaper's stdin reaches end of file, and it kills
 * those still alive REAPER_GRACE_MS after --graceful-timeout. Why a shell and not a thread in each
 * worker, or PR_SET_PDEATHSIG: docs/DESIGN.md.
 *
 * The reaper is the arbiter's grandchild (its shell exits at once, leaving it to init or a
 * subreaper): nothing that lists the arbiter's children takes it for a worker. It ignores the
 * signals a terminal or `kill` of the process group send (they are the arbiter's to act on), and
 * ends with end of file: at once when no listed worker is alive, or once they are gone or killed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { formatDuration } from '../config/duration';
import type { Logger } from '../shared/log';

/** After --graceful-timeout, how long an orphaned worker has before the reaper kills it: a worker
 *  whose loop turns has exited by then (its own timer), one stuck in a loop has not. */
export const REAPER_GRACE_MS = 2000;

const SHELL = '/bin/sh';

/**
 * $1: the line said before each kill, with PID in it for the worker's. Each input line is how long
 * the workers have once the arbiter is gone (in hundredths of a second; --graceful-timeout may
 * change on a reload), then every worker as `pid:starttime`; the last line before end of file counts.
 * A pid is killed only while its start time (field 22 of /proc/PID/stat) is the one listed: it may
 * be another process's by then. No process is started until the arbiter is gone but `sleep`.
 */
const SCRIPT = [
  "trap '' HUP INT QUIT TERM USR1 USR2 TTIN TTOU WINCH PIPE",
  'say=$1',
  'list=',
  'while IFS= read -r line; do list=$line; done',
  'set -- $list',
  '[ $# -gt 1 ] || exit 0',
  'wait_cs=$1; shift; list=$*',
  'now() { read -r up _ < /proc/uptime; cs=$(( ${up%.*} * 100 + 1${up#*.} - 100 )); }',
  'alive() {',
  '  want=$2',
  '  { read -r stat < /proc/$1/stat; } 2>/dev/null || return 1',
  "  set -- ${stat##*') '}",
  '  [ "$1" != Z ] && [ "${20}" = "$want" ]',
  '}',
  'now; deadline=$(( cs + wait_cs ))',
  'while :; do',
  '  left=',
  '  for w in $list; do alive "${w%:*}" "${w#*:}" && left="$left $w"; done',
  '  list=$left',
  '  [ -n "$list" ] || exit 0',
  '  now; [ "$cs" -lt "$deadline" ] || break',
  '  sleep 0.1 2>/dev/null || sleep 1',
  'done',
  'for w in $list; do',
  '  pid=${w%:*}',
  '  alive "$pid" "${w#*:}" || continue',
  '  printf \'%s\\n\' "${say%%PID*}$pid${say#*PID}" >&2',
  '  kill -9 "$pid" 2>/dev/null',
  'done',
].join('\n');

/** A worker's start time since boot, in clock ticks (field 22 of /proc/PID/stat), or undefined. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // After the command, which may hold spaces and parentheses: fields 3 (state) onwards.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export class Reaper {
  private stdin: Writable | undefined;
  private lastList = '';

  /**
   * Start the reaper, or undefined without one: no /bin/sh, no /proc (start times could not be
   * told apart), or PID 1 (the kernel kills every process of its namespace when it dies).
   */
  static start(log: Logger): Reaper | undefined {
    if (process.pid === 1 || !existsSync('/proc/self/stat')) return undefined;
    if (!existsSync(SHELL)) {
      log.warn(`${SHELL} not found: workers stuck in a loop when the arbiter is killed are not stopped (docs/DESIGN.md, the reaper)`);
      return undefined;
    }
    const reaper = new Reaper();
    const line = `unicorn reaper: Killing worker (pid: PID): the arbiter (pid ${process.pid}) is gone and the worker has not stopped within --graceful-timeout + ${formatDuration(REAPER_GRACE_MS)}`;
    // The shell starts the reaper in the background on the pipe (a background job's stdin would be
    // /dev/null otherwise), says its pid, and exits.
    const launcher = `exec 3<&0; (${SCRIPT}) <&3 3<&- >/dev/null & echo $!`;
    const child = spawn(SHELL, ['-c', launcher, 'unicorn-reaper', line], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/' });
    child.on('error', (err) => {
      reaper.stdin = undefined;
      log.warn({ err }, `The reaper could not start (${err.message}): workers stuck in a loop when the arbiter is killed are not stopped`);
    });
    child.stdout
      .setEncoding('utf8')
      .on('data', (pid: string) => log.debug({ reaperPid: Number(pid) }, `Reaper started (pid: ${pid.trim()})`));
    // Node destroys a child's stdin when the child exits, which the launcher does at once: the
    // pipe is the reaper's, so the child is made to forget it.
    const stdin = child.stdin;
    (child as { stdin: Writable | null }).stdin = null;
    reaper.stdin = stdin;
    stdin.on('error', (err) => {
      if (!reaper.stdin) return;
      reaper.stdin = undefined;
      log.warn({ err }, `The reaper is gone (${err.message}): workers stuck in a loop when the arbiter is killed are not stopped`);
    });
    // Neither the launcher nor the pipe keeps the arbiter's loop alive.
    child.unref();
    for (const pipe of [stdin, child.stdout]) (pipe as unknown as { unref?: () => void }).unref?.();
    return reaper;
  }

  /** The workers now, as `pid:starttime`, and --graceful-timeout; written when either changed. */
  update(workers: Iterable<{ pid: number; startTime?: string }>, gracefulTimeout: number): void {
    if (!this.stdin) return;
    const waitCs = Math.ceil((gracefulTimeout + REAPER_GRACE_MS) / 10);
    const pairs = [...workers].flatMap((w) => (w.startTime ? [`${w.pid}:${w.startTime}`] : []));
    const list = [waitCs, ...pairs].join(' ');
    if (list === this.lastList) return;
    this.lastList = list;
    this.stdin.write(`${list}\n`);
  }
}
