/**
 * The recipes in examples/deploy (docs/deploy.md), checked without deploying them: each unicorn
 * command line is read by unicorn itself (`--print-config`), and the numbers that must agree
 * within and across recipes do: stop timeouts against --graceful-timeout, probes against
 * --timeout, ports, socket paths. No Docker engine or running systemd is at hand: the Dockerfile
 * is linted with dockerfile-utils, the units with `systemd-analyze verify` (which works without
 * systemd running) where it is installed. What can run here runs in ./deploy.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { parseAllDocuments } from 'yaml';
import { parseDuration } from '../../src/config/duration';
import { splitArgs } from '../../src/config/split-args';
import { BIN, ROOT } from '../helpers/unicorn';

const RECIPES = path.join(ROOT, 'examples', 'deploy');
const recipe = (name: string) => readFileSync(path.join(RECIPES, name), 'utf8');

let empty: string;
beforeAll(() => (empty = mkdtempSync(path.join(tmpdir(), 'unicorn-recipes-'))));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

/**
 * A recipe's unicorn command line (without `unicorn`) as unicorn reads it: `--print-config` run
 * where there is no config file, with only the environment given. Each setting's printed value.
 */
function settingsOf(args: string[], env: NodeJS.ProcessEnv = {}): Record<string, string> {
  const run = spawnSync(process.execPath, [BIN, '--print-config', ...args], {
    cwd: empty,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`unicorn --print-config ${args.join(' ')}: exit ${run.status}\n${run.stderr}`);
  return Object.fromEntries(
    run.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s{2,}/).slice(0, 2) as [string, string]),
  );
}

/** Milliseconds, from a duration as unicorn prints it, or a number of seconds as the recipes give it. */
const ms = (raw: string | number) => (typeof raw === 'number' ? raw * 1000 : parseDuration(raw)!);

/** A unit file's `Key=value` lines: every value of a key, in order. */
function unit(name: string): (key: string) => string[] {
  const keys = new Map<string, string[]>();
  for (const [, key, value] of recipe(name).matchAll(/^(\w+)=(.*)$/gm)) keys.set(key!, [...(keys.get(key!) ?? []), value!]);
  return (key) => keys.get(key) ?? [];
}
const service = unit('app.service');
const socket = unit('app.socket');
const runtimeDirectory = `/run/${service('RuntimeDirectory')[0]}`;

/** app.service's ExecStart as unicorn reads it. systemd makes the RuntimeDirectory before it
 *  runs, and unicorn wants the control socket's directory to exist: a temporary one stands in. */
function serviceSettings(): Record<string, string> {
  const standIn = path.join(empty, 'runtime');
  mkdirSync(standIn, { recursive: true });
  const [, ...args] = splitArgs(service('ExecStart')[0]!).map((arg) => arg.replace(`${runtimeDirectory}/`, `${standIn}/`));
  const settings = settingsOf(args);
  return { ...settings, controlSocket: settings.controlSocket!.replace(`${standIn}/`, `${runtimeDirectory}/`) };
}

describe('Procfile', () => {
  it('runs unicorn in place of the shell, on $PORT with $WEB_CONCURRENCY workers', () => {
    const [exec, unicorn, ...args] = splitArgs(/^web: (.*)$/m.exec(recipe('Procfile'))![1]!);
    expect([exec, unicorn]).toEqual(['exec', 'unicorn']);
    expect(settingsOf(args, { PORT: '5000', WEB_CONCURRENCY: '3' })).toMatchObject({ bind: 'http://0.0.0.0:5000', workers: '3' });
  });
});

describe('systemd units', () => {
  it('app.service: Type=notify through the systemd plugin, on the socket app.socket passes, stopped within TimeoutStopSec', () => {
    expect(service('Type')).toEqual(['notify']);
    expect(service('NotifyAccess')).toEqual(['main']);
    expect(service('KillMode')).toEqual(['mixed']);
    expect(service('Requires')).toEqual(['app.socket']);
    const settings = serviceSettings();
    expect(settings.hook).toBe('systemd');
    // unicorn serves on what app.socket passes (LISTEN_FDS) and binds nothing: no --bind to mislead.
    expect(socket('ListenStream')).toHaveLength(1);
    expect(splitArgs(service('ExecStart')[0]!).filter((arg) => arg === '--bind' || arg === '-b' || arg.startsWith('--bind='))).toEqual([]);
    expect(ms(Number(service('TimeoutStopSec')[0]))).toBeGreaterThan(ms(settings.gracefulTimeout!));
    expect(Number(service('WatchdogSec')[0])).toBeGreaterThan(0);

    // ExecReload asks the control socket ExecStart opens, in the RuntimeDirectory; the listening
    // socket is elsewhere, since systemd removes the RuntimeDirectory at every stop.
    const [unicorn] = splitArgs(service('ExecStart')[0]!);
    expect(splitArgs(service('ExecReload')[0]!)).toEqual([unicorn, 'ctl', '--socket', settings.controlSocket, 'reload']);
    expect(path.dirname(settings.controlSocket!)).toBe(runtimeDirectory);
    expect(path.dirname(socket('ListenStream')[0]!)).not.toBe(runtimeDirectory);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']);
  if (analyze.status !== 0) process.stderr.write('deploy-recipes.test.ts: systemd-analyze is not installed: the units are not verified\n');
  (analyze.status === 0 ? it : it.skip)('pass `systemd-analyze verify` (their commands pointed at this checkout)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-units-'));
    try {
      for (const name of ['app.socket', 'app.service']) {
        // verify checks that each command exists, and /srv/app does not here.
        writeFileSync(path.join(dir, name), recipe(name).replaceAll('/srv/app/node_modules/.bin/unicorn', BIN));
      }
      const verify = spawnSync('systemd-analyze', ['verify', path.join(dir, 'app.socket'), path.join(dir, 'app.service')], {
        encoding: 'utf8',
      });
      // It exits 0 even for an unknown key or value, which it prints: printing nothing is the pass.
      expect({ status: verify.status, stderr: verify.stderr, stdout: verify.stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nginx.conf', () => {
  it('proxies to app.socket’s socket, never marks it down, and closes idle connections before unicorn does', () => {
    const conf = recipe('nginx.conf');
    expect(conf).toMatch(new RegExp(`^\\s*server unix:${socket('ListenStream')[0]} fail_timeout=0;$`, 'm'));
    const settings = serviceSettings();
    expect(settings.workerClass).toBe('async');
    expect(ms(/^\s*keepalive_timeout (\S+);$/m.exec(conf)![1]!)).toBeLessThan(ms(settings.keepAlive!));
    // HTTP/1.1 and no `Connection: close` from nginx, or the upstream keepalive does nothing.
    expect(conf).toMatch(/^\s*proxy_http_version 1\.1;$/m);
    expect(conf).toMatch(/^\s*proxy_set_header Connection "";$/m);
  });
});

describe('Dockerfile', () => {
  const dockerfile = recipe('Dockerfile');
  /** Each instruction and its arguments, continuation lines joined. */
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => /^[A-Z]+\s/.test(line))
    .map((line) => [line.split(/\s/, 1)[0]!, line.slice(line.indexOf(' ') + 1).trim()] as const);
  const last = (name: string) => instructions.filter(([n]) => n === name).pop()?.[1];

  it('passes dockerfile-utils’ lint', () => {
    expect(validate(dockerfile)).toEqual([]);
  });

  it('runs unicorn under tini, in exec form, as a user that is not root, within docker stop’s 10 s', () => {
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['/usr/bin/tini', '--']);
    expect(instructions.some(([n, args]) => n === 'RUN' && /apt-get install .*\btini\b/.test(args))).toBe(true);
    expect(last('USER')).toBe('node');
    expect(last('STOPSIGNAL') ?? 'SIGTERM').toBe('SIGTERM');
    const [unicorn, ...args] = JSON.parse(last('CMD')!) as string[];
    expect(unicorn).toBe('unicorn');
    expect(instructions).toContainEqual(['ENV', 'PATH=/app/node_modules/.bin:$PATH']);
    const port = instructions.find(([n, a]) => n === 'ENV' && a.startsWith('PORT='))![1].slice('PORT='.length);
    expect(last('EXPOSE')).toBe(port);
    const settings = settingsOf(args, { PORT: port });
    expect(settings.bind).toBe(`http://0.0.0.0:${port}`);
    expect(ms(settings.gracefulTimeout!)).toBeLessThan(10_000);
  });
});

describe('kubernetes.yaml', () => {
  const manifests = () => {
    const documents = parseAllDocuments(recipe('kubernetes.yaml')) as Array<{ errors: unknown[]; toJS(): any }>;
    expect(documents.flatMap((doc) => doc.errors)).toEqual([]);
    const [deployment, service] = documents.map((doc) => doc.toJS());
    const pod = deployment.spec.template.spec;
    return { deployment, service, pod, container: pod.containers[0] };
  };

  it('is a Deployment and a Service whose selectors find the pods, on the container’s named port', () => {
    const { deployment, service, container } = manifests();
    expect([deployment.kind, service.kind]).toEqual(['Deployment', 'Service']);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const named = container.ports.map((p: { name: string }) => p.name);
    expect(named).toContain(service.spec.ports[0].targetPort);
    expect(named).toContain(container.readinessProbe.httpGet.port);
    expect(named).toContain(container.livenessProbe.httpGet.port);
  });

  it('gives unicorn its time: preStop sleep + --graceful-timeout within terminationGracePeriodSeconds; liveness waits longer than --timeout', () => {
    const { pod, container } = manifests();
    // args, not command: the image's ENTRYPOINT (tini) stays PID 1.
    expect(container.command).toBeUndefined();
    const [unicorn, ...args] = container.args as string[];
    expect(unicorn).toBe('unicorn');
    const env = Object.fromEntries(container.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    const settings = settingsOf(args, env);
    expect(settings.bind).toBe(`http://0.0.0.0:${container.ports[0].containerPort}`);
    expect(container.env.find((e: any) => e.name === 'WEB_CONCURRENCY').valueFrom.resourceFieldRef.resource).toBe('limits.cpu');

    const [sleep, preStopSeconds] = container.lifecycle.preStop.exec.command;
    expect(sleep).toBe('sleep');
    expect(ms(pod.terminationGracePeriodSeconds)).toBeGreaterThan(ms(Number(preStopSeconds)) + ms(settings.gracefulTimeout!));
    const liveness = container.livenessProbe;
    expect(ms(liveness.periodSeconds * liveness.failureThreshold)).toBeGreaterThan(ms(settings.timeout!));
  });
});
