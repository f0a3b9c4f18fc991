/**
 * The `--reload` file watcher, on real files with real chokidar (inotify here), run in a process
 * of its own by ../helpers/watch-reporter.js (why: see there).
 *
 * To show that a change is not reported, a test makes it and then a real change: the next report
 * must hold the real change alone. A report of the ignored change would come first or share the
 * burst, so no test has to wait for nothing to happen, except after close().
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type WatchOptions, watchForReload } from '../../src/arbiter/watch';

const DEBOUNCE_MS = 150;
const REPORT_LIMIT_MS = 5000;

const temporaryDirs: string[] = [];
const reporters = new Set<ChildProcess>();

afterEach(() => {
  for (const child of reporters) child.kill('SIGKILL');
  reporters.clear();
  for (const dir of temporaryDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory, as its real path: chokidar reports paths as they were given. */
function temporaryDir(): string {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'unicorn-watch-')));
  temporaryDirs.push(dir);
  return dir;
}

function write(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${process.hrtime.bigint()}\n`);
  return file;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Report = { type: 'ready' } | { type: 'changed'; files: string[] } | { type: 'error'; message: string } | { type: 'closed' };

/** A watcher in its own process, ready; `next()` is its next report of changes, in order. */
async function watching(options: Partial<Omit<WatchOptions, 'onChange' | 'onError'>> & { root: string }) {
  const settings = { cwd: options.root, extra: [], ignoreFiles: [], ...options };
  const child = fork(path.join(__dirname, '..', 'helpers', 'watch-reporter.js'), [JSON.stringify(settings)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  reporters.add(child);
  const changes: string[][] = [];
  const errors: string[] = [];
  child.on('message', (report: Report) => {
    if (report.type === 'changed') changes.push(report.files);
    if (report.type === 'error') errors.push(report.message);
  });
  const awaitReport = (type: Report['type']) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the watcher sent no ${type} report within ${REPORT_LIMIT_MS} ms`)), REPORT_LIMIT_MS);
      const onReport = (report: Report) => {
        if (report.type !== type) return;
        clearTimeout(timer);
        child.off('message', onReport);
        resolve();
      };
      child.on('message', onReport);
    });
  await awaitReport('ready');

  let taken = 0;
  return {
    changes,
    errors,
    async next(): Promise<string[]> {
      if (changes.length === taken) await awaitReport('changed');
      return changes[taken++];
    },
    async close(): Promise<void> {
      const closed = awaitReport('closed');
      child.send({ type: 'close' });
      await closed;
    },
  };
}

describe('watchForReload', () => {
  it('reports an edit once, after the quiet time, with its path', async () => {
    const root = temporaryDir();
    const app = write(path.join(root, 'app.js'));
    const watcher = await watching({ root });

    const start = performance.now();
    write(app);
    expect(await watcher.next()).toEqual([app]);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(DEBOUNCE_MS - 1);
    expect(elapsed).toBeLessThan(1000);

    const sentinel = write(path.join(root, 'sentinel.js'));
    expect(await watcher.next()).toEqual([sentinel]);
    expect(watcher.errors).toEqual([]);
  });

  it('reports a burst of writes once, with every path', async () => {
    const root = temporaryDir();
    const a = write(path.join(root, 'a.js'));
    const b = write(path.join(root, 'lib', 'b.js'));
    const watcher = await watching({ root });

    // Five writes spread over 120 ms, each within the quiet time of the one before.
    let lastWrite = 0;
    for (const file of [a, b, a, b, a]) {
      if (lastWrite) await sleep(30);
      write(file);
      lastWrite = performance.now();
    }
    expect(await watcher.next()).toEqual([a, b]);
    // The quiet time counts from the last write, not the first.
    expect(performance.now() - lastWrite).toBeGreaterThanOrEqual(DEBOUNCE_MS - 1);

    const sentinel = write(path.join(root, 'sentinel.js'));
    expect(await watcher.next()).toEqual([sentinel]);
  });

  it('ignores node_modules, .git, the ignored files and the names derived from them, and editor files', async () => {
    const root = temporaryDir();
    const pidfile = path.join(root, 'unicorn.pid');
    write(path.join(root, 'node_modules', 'dep', 'index.js'));
    write(path.join(root, 'lib', '.git', 'HEAD'));
    const watcher = await watching({ root, ignoreFiles: [pidfile] });

    write(path.join(root, 'node_modules', 'dep', 'index.js'));
    write(path.join(root, 'node_modules', 'new', 'index.js'));
    write(path.join(root, 'lib', '.git', 'HEAD'));
    write(pidfile);
    write(`${pidfile}.4242.tmp`);
    for (const noise of ['.app.js.swp', '.app.js.swx', 'app.js~', '.#app.js', '#app.js#']) {
      write(path.join(root, noise));
    }
    const real = write(path.join(root, 'app.js'));
    expect(await watcher.next()).toEqual([real]);
  });

  it('watches an extra glob outside the root and reports only the files it matches', async () => {
    const dir = temporaryDir();
    const root = path.join(dir, 'app');
    mkdirSync(root);
    const watcher = await watching({ root, cwd: dir, extra: ['config/**/*.yaml', 'env/?.{json,env}'] });

    write(path.join(dir, 'config', 'deep', 'settings.json'));
    write(path.join(dir, 'env', 'ab.json'));
    write(path.join(dir, 'elsewhere.yaml'));
    const matching = [
      write(path.join(dir, 'config', 'top.yaml')),
      write(path.join(dir, 'config', 'a', 'b', 'deep.yaml')),
      write(path.join(dir, 'env', 'p.env')),
    ];
    expect(await watcher.next()).toEqual(matching.sort());
  });

  it('watches an extra file outside the root, and one that does not exist yet', async () => {
    const dir = temporaryDir();
    const root = path.join(dir, 'app');
    mkdirSync(root);
    const settings = write(path.join(dir, 'settings.json'));
    const watcher = await watching({ root, cwd: dir, extra: ['settings.json', 'later/flags.json'] });

    write(path.join(dir, 'other.json'));
    write(settings);
    expect(await watcher.next()).toEqual([settings]);

    write(path.join(dir, 'later', 'unrelated.json'));
    const flags = write(path.join(dir, 'later', 'flags.json'));
    expect(await watcher.next()).toEqual([flags]);
  });

  it('refuses a glob with an unclosed brace, naming it', () => {
    // Refused before chokidar is loaded, so Jest can run this one itself.
    const root = temporaryDir();
    const refuse = () =>
      watchForReload({ root, cwd: root, extra: ['config/*.{yaml'], ignoreFiles: [], onChange: () => {}, onError: () => {} });
    expect(refuse).toThrow(expect.objectContaining({ code: 'UNICORN_BAD_VALUE' }));
    expect(refuse).toThrow('--reload-extra-file "config/*.{yaml" is not accepted');
  });

  it('reports nothing after close(), not even a burst waiting for its quiet time', async () => {
    const root = temporaryDir();
    const app = write(path.join(root, 'app.js'));
    const closing = await watching({ root });
    // A second watcher with no quiet time shows when the edit has reached the watchers.
    const probe = await watching({ root, debounceMs: 0 });

    write(app);
    await probe.next();
    await closing.close();
    write(app);
    write(path.join(root, 'new.js'));
    // Nothing can be awaited for a report that must not come: wait out twice the quiet time.
    await sleep(2 * DEBOUNCE_MS);
    expect(closing.changes).toEqual([]);
  });
});
