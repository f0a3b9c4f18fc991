/**
 * The benchmark suite itself (benchmarks/run.js, and the fault pass, benchmarks/faults.js): it refuses bad input with a message naming the
 * value and what is accepted, and a short run of real scenarios against real contenders produces
 * the tables RESULTS.md is made of. Speed is not asserted here, only that every figure is there;
 * autocannon (a dev dependency) is the load generator, so the test does not depend on wrk.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bench, stopBenchRuns } from '../helpers/bench';
import { findNginx } from '../helpers/nginx';
import { ROOT } from '../helpers/unicorn';

const FAULTS = path.join(ROOT, 'benchmarks', 'faults.js');

afterEach(stopBenchRuns);

/** The rows of the markdown table in `text`, as lists of cells, without its heading and rule. */
function tableRows(text: string): string[][] {
  const lines = text.split('\n').filter((line) => line.startsWith('| '));
  return lines.slice(2).map((line) => line.slice(2, -2).split(' | '));
}

describe('the benchmark suite', () => {
  it('lists its scenarios and options with --help', async () => {
    const { code, stdout } = await bench(['--help']);
    expect(code).toBe(0);
    for (const scenario of [
      'keep-alive',
      'churn',
      'json',
      'fairness',
      'reload',
      'startup',
      'access-log',
      'static-1k',
      'static-1m',
      'mounts',
      'cold-start',
      'wake-ups',
      'elastic-step',
    ]) {
      expect(stdout).toMatch(new RegExp(`^  ${scenario} `, 'm'));
    }
    expect(stdout).toContain('--contender X');
  });

  it.each([
    [
      ['chrun'],
      'no scenario "chrun": choose from keep-alive, churn, json, fairness, reload, startup, access-log, static-1k, static-1m, proxies, mounts, cold-start, wake-ups, elastic-step',
    ],
    [['--rounds', '0'], '--rounds "0" is not accepted: expected a whole number of 1 or more'],
    [['--duration', 'fast'], '--duration "fast" is not accepted: expected a number above 0'],
    [
      ['--contender', 'pm3'],
      '--contender "pm3" is not accepted: expected one of unicorn-sync, unicorn-async, cluster-rr, cluster-shared, cluster-libraries, pm2, node-http, express-static-sync, express-static-async, fastify-static-sync, fastify-static-async, nginx',
    ],
    [['--generator', 'ab'], '--generator "ab" is not accepted: expected wrk or autocannon'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j, naming the value and what is accepted', async (args, message) => {
    const { code, stdout, stderr } = await bench(args);
    expect(code).toBe(2);
    expect(stderr).toContain(`bench: ${message}`);
    expect(stderr).toContain('--help');
    expect(stdout).toBe('');
  });

  it('measures churn for unicorn against a node:http process, with the ratio to it and the spread over the workers', async () => {
    const { code, stdout, stderr } = await bench([
      'churn',
      '--duration',
      '1',
      '--rounds',
      '1',
      '--workers',
      '2',
      '--connections',
      '4',
      '--generator',
      'autocannon',
      '--contender',
      'unicorn-sync',
      '--contender',
      'node-http',
    ]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toContain('## churn: ');
    expect(stdout).toContain(
      'Command: `npm run bench -- churn --duration 1 --rounds 1 --workers 2 --connections 4 --contender unicorn-sync --contender node-http`',
    );
    expect(stdout).toMatch(/^Machine: \d+ × .+, Node v\d+/m);
    const rows = tableRows(stdout);
    expect(rows.map((row) => row[0])).toEqual(['unicorn sync', 'node:http, one process']);
    for (const [, rps, p50, p99, cpu, , , errors, ratio] of rows) {
      expect(Number(rps)).toBeGreaterThan(0);
      expect(Number(p50)).toBeGreaterThanOrEqual(0);
      expect(Number(p99)).toBeGreaterThanOrEqual(Number(p50));
      expect(Number(cpu)).toBeGreaterThan(0);
      expect(errors).toBe('0');
      expect(Number(ratio)).toBeGreaterThan(0);
    }
    expect(rows[1]![8]).toBe('1.00');
    // The busiest worker's share of the requests (from unicorn ctl stats) and of the CPU; one
    // process has none.
    const share = (cell: string | undefined) => Number(/^(\d+)%$/.exec(cell ?? '')?.[1]);
    expect(share(rows[0]![5])).toBeGreaterThanOrEqual(50);
    expect(share(rows[0]![5])).toBeLessThanOrEqual(100);
    expect(share(rows[0]![6])).toBeGreaterThanOrEqual(50);
    expect(rows[1]!.slice(5, 7)).toEqual(['n/a', 'n/a']);
  }, 60_000);

  /** A short run of `scenario` with autocannon, 2 workers and 4 connections, and `contenders`. */
  const shortRun = (scenario: string, contenders: string[], more: string[] = []) =>
    bench([
      scenario,
      ...['--duration', '1', '--rounds', '1', '--workers', '2', '--connections', '4', '--generator', 'autocannon'],
      ...contenders.flatMap((id) => ['--contender', id]),
      ...more,
    ]);

  it('measures a mounted app against the same app at /, with the ratios of requests a second and of CPU a request', async () => {
    const { code, stdout, stderr } = await shortRun('mounts', ['unicorn-async']);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toContain('## mounts: ');
    const rows = tableRows(stdout);
    expect(rows.map((row) => row[0])).toEqual([
      'unicorn async, app at /',
      'unicorn async, mounted at /api',
      'unicorn async, mounted at /api alone',
    ]);
    for (const [, rps, , , cpu, , , errors, rpsRatio, cpuRatio] of rows) {
      expect(Number(rps)).toBeGreaterThan(0);
      expect(Number(cpu)).toBeGreaterThan(0);
      expect(errors).toBe('0');
      expect(Number(rpsRatio)).toBeGreaterThan(0);
      expect(Number(cpuRatio)).toBeGreaterThan(0);
    }
    expect(rows[0]!.slice(8)).toEqual(['1.00', '1.00']);
  }, 60_000);

  it('measures a 1 KB file from express.static and @fastify/static under unicorn and from nginx, with the ratios to each', async () => {
    const nginx = findNginx() !== undefined;
    const { code, stdout, stderr } = await shortRun('static-1k', ['express-static-async', 'fastify-static-async', 'nginx']);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toContain('## static-1k: a 1 KB file, keep-alive');
    const rows = tableRows(stdout);
    const names = ['express.static, unicorn async', '@fastify/static, unicorn async', ...(nginx ? ['nginx'] : [])];
    expect(rows.map((row) => row[0])).toEqual(names);
    for (const [, rps, , , cpu, , , errors] of rows) {
      expect(Number(rps)).toBeGreaterThan(0);
      expect(Number(cpu)).toBeGreaterThan(0);
      expect(errors).toBe('0');
    }
    // × express.static of the same worker class, then × nginx; nginx has no worker class.
    expect(rows[0]![8]).toBe('1.00');
    expect(Number(rows[1]![8])).toBeGreaterThan(0);
    if (nginx) {
      expect(rows[2]!.slice(8)).toEqual(['—', '1.00']);
      expect(Number(rows[0]![9])).toBeGreaterThan(0);
    } else {
      expect(stderr).toContain('static-1k: nginx is not installed (apt-get install nginx): measured without it');
      expect(rows[0]).toHaveLength(9);
    }
  }, 60_000);

  it('refuses to measure a contender that answers the file with the wrong length', async () => {
    // In place of bin/unicorn: a server that answers every request with 200 and 5 bytes.
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-bench-test-'));
    try {
      const wrong = path.join(dir, 'wrong-server.js');
      writeFileSync(
        wrong,
        [
          "const [host, port] = process.argv[process.argv.indexOf('-b') + 1].split(':');",
          "require('node:http').createServer((req, res) => res.end('wrong')).listen(Number(port), host);",
        ].join('\n'),
      );
      const { code, stdout, stderr } = await shortRun('static-1k', ['unicorn-async'], ['--unicorn', wrong]);
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /unicorn async, --static answered GET http:\/\/127\.0\.0\.1:\d+\/static\/1k\.txt with 5 bytes, not the 1024 expected/,
      );
      expect(stdout).not.toContain('| contender |');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('steps a CPU-bound load up and down for a fixed 1, a fixed 4 and an adaptive count, and draws the worker count over time', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-bench-step-'));
    try {
      const out = path.join(dir, 'RESULTS.md');
      const { code, stdout, stderr } = await bench([
        'elastic-step',
        '--rounds',
        '1',
        '--step-duration',
        '0.5',
        '--connections',
        '4',
        '--out',
        out,
      ]);
      expect({ code, stderr }).toMatchObject({ code: 0 });
      expect(stdout).toContain('Command: `npm run bench -- elastic-step --rounds 1 --connections 4 --step-duration 0.5`');
      const rows = tableRows(stdout);
      expect(rows.map((row) => row[0])).toEqual(['fixed 1 (-w 1)', 'fixed 4 (-w 4)', 'adaptive (-w 1:4)']);
      for (const [, served, ratio, p99, cpu, failed, up, down, most] of rows.slice(0, 2)) {
        expect(Number(served)).toBeGreaterThan(0);
        expect(Number(ratio)).toBeGreaterThan(0);
        expect(Number(p99)).toBeGreaterThan(0);
        expect(Number(cpu)).toBeGreaterThan(0);
        expect(failed).toBe('0');
        expect([up, down]).toEqual(['—', '—']);
        expect(Number(most)).toBeGreaterThanOrEqual(1);
      }
      expect(rows[1]![2]).toBe('1.00');
      // Measured once the adaptive count is there; said plainly by a unicorn that refuses -w 1:4.
      expect(rows[2]![1]).toMatch(/^(\d+|not measured: .*--workers.*)$/);
      expect(stdout).toContain('![Worker processes and requests served over time, last round](elastic-step.png)');
      expect(readFileSync(path.join(dir, 'elastic-step.png')).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('measures start-up time, memory and idle CPU of an arbiter and its workers', async () => {
    const contenders = ['unicorn-async', 'cluster-libraries', 'node-http'].flatMap((id) => ['--contender', id]);
    const { code, stdout, stderr } = await bench(['startup', '--rounds', '1', '--idle', '1', ...contenders]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    const rows = tableRows(stdout);
    expect(rows.map((row) => row[0])).toEqual([
      'unicorn async',
      'node:cluster shared-handle + commander and pino',
      'node:http, one process',
    ]);
    const [unicorn, libraries, bare] = rows as [string[], string[], string[]];
    // The peer that loads unicorn's libraries answers, with its primary and workers measured (a
    // missing figure is NaN, which fails).
    expect(Math.min(...libraries.slice(1, 4).map(Number))).toBeGreaterThan(10);
    // Launch to first response, supervisor RSS, worker RSS, the difference, supervisor and worker CPU.
    expect(Number(unicorn[1])).toBeGreaterThan(0);
    expect(Number(unicorn[2])).toBeGreaterThan(10);
    expect(Number(unicorn[3])).toBeGreaterThan(10);
    expect(unicorn[4]).toMatch(/^[+-]\d+\.\d$/);
    expect(Number(unicorn[5])).toBeGreaterThanOrEqual(0);
    expect(bare.slice(2, 6)).toEqual(['—', expect.stringMatching(/^\d+\.\d$/), '+0.0', '—']);
  }, 60_000);
});

describe('the fault pass', () => {
  it('refuses an unknown scenario, naming it and the scenarios there are', async () => {
    const { code, stdout, stderr } = await bench(['--only', 'hup-strom'], { script: FAULTS });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^faults: --only "hup-strom" is not accepted: choose from hup-storm, signal-mix, /m);
    expect(stdout).toBe('');
  });

  it('replays a HUP storm under load, with the requests sent and failed, and exits 1 only on a fault', async () => {
    const { code, stdout, stderr } = await bench(['--only', 'hup-storm', '--quick'], { script: FAULTS });
    const line = /^hup-storm +\| +sent +(\d+) +\| +failed (\d+).*\| +10 HUPs: (\d+) reloads completed.*\| +(ok|FAULT: .+)$/m.exec(stdout);
    expect({ line, stderr }).toMatchObject({ line: expect.anything() });
    const [, sent, failed, reloads, verdict] = line!;
    expect(Number(sent)).toBeGreaterThan(0);
    expect(Number(reloads)).toBeGreaterThan(0);
    // A lost request is a fault; the line and the exit code say so together.
    if (failed !== '0') expect(verdict).toMatch(/^FAULT: \d+ requests? lost/);
    expect(code).toBe(verdict === 'ok' ? 0 : 1);
    expect(stdout).toMatch(new RegExp(`^1 scenario in \\d+ s: ${sent} requests sent, ${failed} failed; `, 'm'));
  }, 30_000);
});
