import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../helpers/http';
import { start, type Unicorn } from '../helpers/unicorn';

const appSource = (version: string) => `module.exports = (req, res) => res.end('version ${version}\\n');\n`;

/** Poll the server until it answers `body` (each request is a real one; there is no event for
 *  "the new workers now answer"), and say how long it took. Fails after `timeoutMs` (hangs). */
async function answers(unicorn: Unicorn, body: string, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    const reply = await request(`${unicorn.url()}/`);
    if (reply.body === body) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`still answering ${JSON.stringify(reply.body)}:\n${unicorn.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const completedReloads = (unicorn: Unicorn, count: number) =>
  unicorn.waitForLog(() => unicorn.lines('Reload complete').length === count, `${count} completed reloads`);

describe('--reload', () => {
  it('picks up an edit within about a second, survives a syntax error, and picks up the fix', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-reload-'));
    const app = path.join(dir, 'app.js');
    writeFileSync(app, appSource('1'));
    mkdirSync(path.join(dir, 'node_modules'));
    const unicorn = start(['--reload', '-w', '2', '-b', '127.0.0.1:0', 'app.js'], { cwd: dir });
    await unicorn.waitForLog((l) => l.msg === `Watching ${dir} for changes (--reload)`, 'the watcher');
    await unicorn.ready(2);
    expect((await request(`${unicorn.url()}/`)).body).toBe('version 1\n');

    // Nothing under node_modules counts.
    writeFileSync(path.join(dir, 'node_modules', 'dep.js'), 'module.exports = 1;\n');
    writeFileSync(app, appSource('2'));
    const took = await answers(unicorn, 'version 2\n');
    // "Within about a second": the watcher reports after 150 ms of quiet, then new workers boot.
    expect(took).toBeLessThan(2_500);
    const reloads = unicorn.lines('Reloading: ').filter((l) => l.msg.endsWith('(--reload)'));
    expect(reloads.map((l) => l.msg)).toEqual(['Reloading: app.js changed (--reload)']);
    // The first new worker answers before the second is ready: a broken edit now would be the one
    // the second loads, and fail this reload instead of the next.
    await completedReloads(unicorn, 1);

    writeFileSync(app, 'module.exports = (req, res) => {\n');
    await unicorn.waitForLog((l) => l.msg.startsWith('Reload failed'), 'the failed reload');
    // Both new workers failed on the same file; the reason is logged once.
    const failures = unicorn.bootFailures().filter((l) => l.msg.includes('SyntaxError'));
    expect(failures).toHaveLength(1);
    expect(failures[0]!.msg).toMatch(/^cannot load the app "app\.js": importing .*app\.js failed: SyntaxError: /);
    expect((await request(`${unicorn.url()}/`)).body).toBe('version 2\n');

    writeFileSync(app, appSource('3'));
    await answers(unicorn, 'version 3\n');
    await completedReloads(unicorn, 2);
  });

  it('watches --reload-extra-file globs outside the app directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-reload-'));
    mkdirSync(path.join(dir, 'src'));
    mkdirSync(path.join(dir, 'config'));
    writeFileSync(
      path.join(dir, 'src', 'app.js'),
      `const { readFileSync } = require('node:fs');\nconst text = readFileSync(${JSON.stringify(path.join(dir, 'config', 'greeting.yaml'))}, 'utf8');\nmodule.exports = (req, res) => res.end(text);\n`,
    );
    writeFileSync(path.join(dir, 'config', 'greeting.yaml'), 'hello\n');
    const unicorn = start(['--reload', '--reload-extra-file', 'config/*.yaml', '-b', '127.0.0.1:0', 'src/app.js'], { cwd: dir });
    await unicorn.waitForLog((l) => l.msg.startsWith('Watching '), 'the watcher');
    await unicorn.ready(1);
    expect((await request(`${unicorn.url()}/`)).body).toBe('hello\n');
    writeFileSync(path.join(dir, 'config', 'notes.txt'), 'not matched\n');
    writeFileSync(path.join(dir, 'config', 'greeting.yaml'), 'bonjour\n');
    await answers(unicorn, 'bonjour\n');
    expect(unicorn.lines('Reloading: ').map((l) => l.files)).toEqual([[path.join(dir, 'config', 'greeting.yaml')]]);
  });
});
