/**
 * The emperor scenario of the benchmark suite (benchmarks/scenarios/emperor.js), run small: a few
 * on-demand vassals with a short idle timeout and a few seconds of wandering load. It must produce
 * every table of its section, in RESULTS.md form, lose no request, and leave no process behind.
 * Speed is not asserted, only that every figure is there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { childPids, ROOT } from '../helpers/unicorn';

const RUN = path.join(ROOT, 'benchmarks', 'run.js');
const running = new Set<ChildProcess>();
let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'unicorn-bench-emperor-test-'));
});

afterEach(async () => {
  // SIGTERM: the suite stops the emperor it started (its own process group) on its way out; if it
  // has not within 15 s, it and every process under it are killed by pid.
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            for (const pid of childPids(child.pid!)) {
              for (const target of [-pid, pid]) {
                try {
                  process.kill(target, 'SIGKILL');
                } catch {
                  // gone, or not a group leader
                }
              }
            }
            child.kill('SIGKILL');
          }, 15_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  running.clear();
  rmSync(scratch, { recursive: true, force: true });
});

/** benchmarks/run.js with `args`, its temporary files (the emperor's directory among them) under `scratch`. */
function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, TMPDIR: scratch };
  const child = spawn(process.execPath, [RUN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Each markdown table of `text`: its headings and its rows of cells. */
function tables(text: string): { headings: string[]; rows: string[][] }[] {
  const cells = (line: string) => line.slice(2, -2).split(' | ');
  // A table is a run of lines starting with '| ': headings, the rule, then the rows.
  const blocks = text.split(/\n(?!\| )[^\n]*/).map((block) => block.split('\n').filter((line) => line.startsWith('| ')));
  return blocks
    .filter((lines) => lines.length >= 2)
    .map(([headings, , ...rows]) => ({ headings: cells(headings!), rows: rows.map(cells) }));
}

/** The pids of processes whose command line names `dir`: the emperor and its vassals, while they run. */
function processesUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('the emperor benchmark scenario', () => {
  it('measures memory, cold starts, a wandering load and new files, with no failed request and nothing left running', async () => {
    const out = path.join(scratch, 'RESULTS.md');
    const args = ['emperor', '--vassals', '4', '--vassal-idle', '1s', '--load-duration', '4', '--out', out];
    const { code, stdout, stderr } = await bench(args);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toContain('## emperor: ');
    expect(stdout).toContain('Command: `npm run bench -- emperor --vassals 4 --vassal-idle 1s --load-duration 4`');
    expect(stdout).toMatch(/^Machine: \d+ × .+, Node v\d+/m);
    expect(readFileSync(out, 'utf8')).toContain(stdout.slice(stdout.indexOf('## emperor: ')).trim());

    const [memory, cold, load, fresh, ...more] = tables(stdout);
    expect(more).toEqual([]);
    expect(memory!.headings).toEqual(['what', 'RSS MB', 'PSS MB', 'processes']);
    expect(memory!.rows.map((row) => row[0])).toEqual([
      'all 4 idle: the emperor process',
      "all 4 idle: the emperor's process tree",
      expect.stringMatching(/^4 woken, \d of them still awake: the tree$/),
      'per awake vassal, its arbiter and worker: (tree − emperor) / awake',
      expect.stringMatching(/^the emperor process after the wandering load \(\d vassals awake\)$/),
    ]);
    // All idle, the emperor holds every socket itself: its tree is itself.
    expect(memory!.rows[1]![3]).toBe('1');
    for (const row of memory!.rows) expect(Number(row[1])).toBeGreaterThan(0);

    expect(cold!.headings.slice(0, 7)).toEqual(['cold starts', 'wake-ups', 'p50 ms', 'p90', 'p99', 'max', 'failed']);
    expect(cold!.rows.map((row) => row.slice(1, 2))).toEqual([['4'], ['4']]);
    for (const row of cold!.rows) {
      expect(Number(row[2])).toBeGreaterThan(0);
      expect(Number(row[5])).toBeGreaterThanOrEqual(Number(row[2]));
      expect(row.slice(6)).toEqual(['0', '—']);
    }

    expect(stdout).toMatch(
      /left, from that response to the emperor's "Vassal … left while idle", after p50 \d+ \/ max \d+ ms \(4 vassals;/,
    );

    const loadRow = Object.fromEntries(load!.headings.map((heading, i) => [heading, load!.rows[0]![i]]));
    expect(load!.rows).toHaveLength(1);
    expect(Number(loadRow.requests)).toBeGreaterThan(0);
    expect(loadRow.failed).toBe('0');
    expect(loadRow['how they failed']).toBe('—');
    for (const column of ['wake-ups', 'idle exits', 'p50 ms', 'p99 ms']) expect(loadRow[column]).toMatch(/^\d+(\.\d)?$/);

    expect(fresh!.rows.map((row) => row.slice(0, 2))).toEqual([
      ['not on demand (started at once)', '5'],
      ['on demand (its socket held; the first request starts it)', '5'],
    ]);
    for (const row of fresh!.rows) for (const cell of row.slice(2)) expect(cell).toMatch(/^\d+ \/ \d+$/);

    // The emperor's directory was under TMPDIR: nothing naming it runs, and it is gone.
    expect(processesUnder(scratch)).toEqual([]);
    expect(readdirSync(scratch).filter((entry) => entry.startsWith('unicorn-bench-emperor-'))).toEqual([]);
    expect(existsSync(out)).toBe(true);
  }, 60_000);

  it('refuses an idle timeout it cannot read, naming the value and what is accepted', async () => {
    const { code, stdout, stderr } = await bench(['emperor', '--vassal-idle', 'soon']);
    expect(code).toBe(2);
    expect(stderr).toContain('bench: --vassal-idle "soon" is not accepted: expected a duration such as 500ms, 10s or 2m');
    expect(stdout).toBe('');
  });
});
