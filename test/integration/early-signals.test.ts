import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { APPS, start, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');

/**
 * A config file that holds the arbiter's start for 0.7 s where PHASE says, after saying so in a
 * line of the error log (JSON on stderr, which is where a test waits): while the config file loads
 * (a top-level await), or while onStarting runs. Workers import it too, and pass straight through.
 */
const CONFIG = `
import cluster from 'node:cluster';
const hold = (what) => {
  process.stderr.write(JSON.stringify({ level: 'info', msg: \`holding: \${what}\` }) + '\\n');
  return new Promise((resolve) => setTimeout(resolve, 700));
};
if (cluster.isPrimary && process.env.PHASE === 'config') await hold('config');
export default {
  app: ${JSON.stringify(ROUTES)},
  async onStarting() {
    if (process.env.PHASE === 'onStarting') await hold('onStarting');
  },
};
`;

interface Files {
  pidfile: string;
  socket: string;
}

/** Start with the config file, and wait until it holds the start at `phase`. */
async function startHeldAt(phase: 'config' | 'onStarting'): Promise<{ unicorn: Unicorn; files: Files }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-'));
  const config = path.join(dir, 'unicorn.config.mjs');
  writeFileSync(config, CONFIG);
  const files = { pidfile: path.join(dir, 'u.pid'), socket: path.join(dir, 'ctl.sock') };
  const unicorn = start(['-c', config, '-b', '127.0.0.1:0', '-w', '1', '-p', files.pidfile, '--control-socket', files.socket], {
    env: { PHASE: phase },
  });
  await unicorn.waitForLog((l) => l.msg === `holding: ${phase}`, `the start held at ${phase}`);
  return { unicorn, files };
}

/** Stopped by a signal, the arbiter exits 0 (not by the signal), its pidfile and control socket gone. */
async function expectCleanExit(unicorn: Unicorn, files: Files): Promise<void> {
  expect(await unicorn.exited).toEqual({ code: 0, signal: null });
  expect(existsSync(files.pidfile)).toBe(false);
  expect(existsSync(files.socket)).toBe(false);
}

const handled = (unicorn: Unicorn, name: string) =>
  unicorn.waitForLog((l) => l.role === 'arbiter' && l.msg === `Handling signal: ${name}`, `the ${name} handled`);

describe.each(['config', 'onStarting'] as const)('a signal while the arbiter starts (%s)', (phase) => {
  // During onStarting, the stop signal of the issue; the others stop the same way.
  const stops = phase === 'config' ? (['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) : (['SIGTERM'] as const);
  it.each(stops)('%s stops it cleanly, before any worker is forked', async (signal) => {
    const { unicorn, files } = await startHeldAt(phase);
    unicorn.signal(signal);
    await expectCleanExit(unicorn, files);
    expect(unicorn.lines(`Handling signal: ${signal.slice(3).toLowerCase()}`)).toHaveLength(1);
    expect(unicorn.lines('Booting worker')).toEqual([]);
  });

  it('HUP is queued: the arbiter starts, then reloads', async () => {
    const { unicorn, files } = await startHeldAt(phase);
    unicorn.signal('SIGHUP');
    await handled(unicorn, 'hup');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload complete'), 'the reload complete');
    expect((await request(unicorn.url())).status).toBe(200);
    unicorn.signal('SIGTERM');
    await expectCleanExit(unicorn, files);
  });

  it('USR2 is queued: the arbiter starts, then re-executes', async () => {
    const { unicorn } = await startHeldAt(phase);
    unicorn.signal('SIGUSR2');
    await handled(unicorn, 'usr2');
    await unicorn.waitForLog((l) => l.msg.startsWith('Re-executing: new arbiter'), 'the re-exec');
    expect((await request(unicorn.url())).status).toBe(200);
    expect(unicorn.proc.exitCode).toBeNull();
  });

  if (phase === 'onStarting') return;

  it('TTIN is queued: the arbiter starts with one worker more', async () => {
    const { unicorn, files } = await startHeldAt(phase);
    unicorn.signal('SIGTTIN');
    await handled(unicorn, 'ttin');
    await unicorn.ready(2);
    unicorn.signal('SIGTERM');
    await expectCleanExit(unicorn, files);
  });

  it.each([
    ['SIGTTOU', 'remove 1 is not accepted: the server runs 1 worker, and never goes below one'],
    ['SIGUSR1', 'Handling signal: usr1'],
  ] as const)('%s is queued and acted on once started', async (signal, line) => {
    const { unicorn, files } = await startHeldAt(phase);
    unicorn.signal(signal);
    await handled(unicorn, signal.slice(3).toLowerCase());
    await unicorn.waitForLog((l) => l.msg === line, line);
    await unicorn.ready(1);
    unicorn.signal('SIGTERM');
    await expectCleanExit(unicorn, files);
  });
});
