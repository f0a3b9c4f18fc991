/**
 * A real browser on a site of several parts (issue 17): headless Chromium loads a page from the app
 * at /, whose stylesheet, image and JavaScript modules come from --static /assets, and whose
 * script calls an Express app mounted at /api. The page writes what it saw into its DOM (the style
 * applied, the image's size, the modules run, the API's answers), which the test reads back.
 * Chromium comes from the machine's packages (.ci/run installs it, and says whether it must run).
 */
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser, findChromium } from '../helpers/browser';
import { readLines } from '../helpers/files';
import { APPS, serve } from '../helpers/unicorn';

const ASSETS = path.join(APPS, 'browser', 'assets');
const ASSET_FILES = ['style.css', 'pixels.png', 'module.js', 'word.js'];

const chromium = findChromium();
const chromiumRequired = process.env.UNICORN_TEST_CHROMIUM === 'required';
if (!chromium && !chromiumRequired) {
  process.stderr.write(
    `browser.test.ts: browser tests skipped: ${process.env.UNICORN_TEST_CHROMIUM ?? 'chromium is not installed (apt-get install chromium)'}\n`,
  );
}

/** The text of the element with `id` in serialized HTML (a text node: only &, < and > are escaped). */
function textOf(html: string, id: string): string {
  const found = new RegExp(`<[a-z]+ id="${id}"[^>]*>([^<]*)</`).exec(html);
  if (!found) throw new Error(`no #${id} in:\n${html}`);
  return found[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

(chromium || chromiumRequired ? describe : describe.skip)('a page in headless Chromium', () => {
  it('gets its stylesheet, image and modules from --static and its data from a mounted Express app', async () => {
    if (!chromium) throw new Error('chromium is not installed, and UNICORN_TEST_CHROMIUM=required (.ci/run installs it)');
    const accessLog = path.join(mkdtempSync(path.join(os.tmpdir(), 'unicorn-browser-')), 'access.log');
    const unicorn = await serve('browser/page.js', [
      '--chdir',
      APPS,
      '-k',
      'async',
      '--mount',
      '/api=mounts/express.js:app',
      '--static',
      `/assets=${ASSETS}`,
      '--access-logfile',
      accessLog,
      '--access-logformat',
      '%(mount)s %(m)s %(U)s %(s)s %(B)s',
    ]);
    const browser = Browser.start(chromium);
    const dom = await browser.dom(`${unicorn.url()}/`, "document.body?.dataset.done === 'yes'");
    const seen = JSON.parse(textOf(dom, 'seen')) as Record<string, unknown>;
    const reported = `the page saw ${JSON.stringify(seen, null, 2)}\nand reported:\n${browser.events.join('\n')}`;
    expect({ seen, reported }).toMatchObject({
      seen: {
        color: 'rgb(1, 2, 3)',
        imageWidth: 3,
        module: 'the module ran, and so did its import',
        posted: { status: 200, body: '{"got":{"from":"the page"}}' },
        apiSeen: { status: 200, body: '{"url":"/seen?from=page","path":"/seen","baseUrl":"/api","originalUrl":"/api/seen?from=page"}' },
      },
    });

    // Each asset served whole by the static mount, and the page and the API by their apps.
    unicorn.signal('SIGTERM');
    await unicorn.exited;
    const lines = readLines(accessLog);
    for (const file of ASSET_FILES) {
      expect({ file, lines }).toEqual({
        file,
        lines: expect.arrayContaining([`static:/assets GET /assets/${file} 200 ${statSync(path.join(ASSETS, file)).size}`]),
      });
    }
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/ GET \/ 200 \d+$/), expect.stringMatching(/^\/api POST \/api\//)]),
    );
  });
});
