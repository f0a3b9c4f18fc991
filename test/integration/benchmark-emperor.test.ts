/**
 * The emperor scenario of the benchmark suite (benchmarks/scenarios/emperor.js), run small: a few
 * on-demand vassals with a short idle timeout and a few seconds of wandering load. It must produce
 * every table of its section, in RESULTS.md form, lose no request, and leave no process behind.
 * Speed is not asserted, only that every figure is there.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bench, stopBenchRuns } from '../helpers/bench';

let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'unicorn-bench-emperor-test-'));
});

afterEach(async () => {
  await stopBenchRuns();
  rmSync(scratch, { recursive: true, force: true });
});

/** benchmarks/run.js with `args`, its temporary files (the emperor's directory among them) under `scratch`. */
const benchHere = (args: string[]) => bench(args, { env: { ...process.env, TMPDIR: scratch } });

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
    const { code, stdout, stderr } = await benchHere(args);
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
    const { code, stdout, stderr } = await benchHere(['emperor', '--vassal-idle', 'soon']);
    expect(code).toBe(2);
    expect(stderr).toContain('bench: --vassal-idle "soon" is not accepted: expected a duration such as 500ms, 10s or 2m');
    expect(stdout).toBe('');
  });
});
