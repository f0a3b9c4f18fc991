/**
 * Gunicorn settings unicorn leaves out on purpose. Someone coming from Gunicorn tries them first,
 * and "did you mean --reload?" for --preload would send them the wrong way: each is refused with why
 * it is absent and what to use instead, on the command line, in UNICORN_CMD_ARGS and as a config
 * file key.
 */

interface GunicornOnly {
  /** As Gunicorn spells them on its command line. */
  flags: readonly string[];
  /** As a unicorn config file would (Gunicorn's snake_case name in camelCase, and its short one). */
  keys: readonly string[];
  why: string;
}

const GUNICORN_ONLY: readonly GunicornOnly[] = [
  {
    flags: ['--preload'],
    keys: ['preload', 'preloadApp'],
    why:
      'workers are forked with node:cluster, which starts each one as a fresh Node process, so nothing loaded in the arbiter would be shared with them; ' +
      'the app loads in each worker (an app that cannot load stops the start with exit code 4, and --check-config loads it without serving)',
  },
  {
    flags: ['-D', '--daemon'],
    keys: ['daemon'],
    why:
      'unicorn stays in the foreground; run it under systemd (Type=notify with --hook systemd), in a container, or under a process supervisor ' +
      '(supervisord, runit, s6), which restarts it and keeps its output; docs/deploy.md has the recipes',
  },
  {
    flags: ['--threads'],
    keys: ['threads'],
    why: 'a worker is one Node process with one event loop, not a pool of threads; for concurrent requests in each worker use -k async (--worker-connections caps them), for more CPUs more --workers',
  },
  {
    flags: ['--worker-tmp-dir'],
    keys: ['workerTmpDir'],
    why: 'workers send their heartbeats to the arbiter over IPC, not through files in a temporary directory; leave it out',
  },
  {
    flags: ['--statsd-host'],
    keys: ['statsdHost'],
    why: 'unicorn reports its metrics to Prometheus instead: --hook prometheus (hooks/prometheus.md)',
  },
];

/** `--preload is not a unicorn option: …` when `flag` (as given, perhaps `--preload=true`) is one
 *  of them; undefined otherwise. */
export function gunicornOnlyFlag(flag: string): string | undefined {
  const name = flag.split('=')[0]!;
  const found = GUNICORN_ONLY.find((setting) => setting.flags.includes(name));
  return found && `${name} is not a unicorn option: ${found.why}`;
}

/** The same for a config file's key. */
export function gunicornOnlyKey(key: string): string | undefined {
  const found = GUNICORN_ONLY.find((setting) => setting.keys.includes(key));
  return found && `${key} is not a unicorn setting: ${found.why}`;
}

/** For commander's `unknown option '--preload'` refusal: the reason, when the option is one of them. */
export function explainUnknownOption(message: string): string | undefined {
  const option = /unknown option '([^']+)'/.exec(message)?.[1];
  return option && gunicornOnlyFlag(option);
}
