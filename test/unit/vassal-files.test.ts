import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fillVassalName } from '../../src/config/vassal-template';
import { scanVassalFiles, vassalName } from '../../src/emperor/vassal-files';

describe('vassal files (unicorn emperor DIR)', () => {
  it('names a vassal by its file, and leaves templates and other files alone', () => {
    expect(vassalName('/apps/site-a.config.json')).toBe('site-a');
    expect(vassalName('shop.eu.config.mjs')).toBe('shop.eu');
    expect(vassalName('_family.config.json')).toBeUndefined();
    expect(vassalName('.hidden.config.js')).toBeUndefined();
    expect(vassalName('site.config.yaml')).toBeUndefined();
    expect(vassalName('hello.js')).toBeUndefined();
  });

  it('refuses a second file of one name, naming both', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-vassal-files-'));
    for (const file of ['b.config.json', 'a.config.json', 'a.config.js', '_t.config.json']) writeFileSync(path.join(dir, file), '{}');
    const { found, refused } = scanVassalFiles(dir);
    expect(found.map((f) => path.basename(f.file))).toEqual(['a.config.js', 'b.config.json']);
    expect(refused).toEqual([
      {
        file: path.join(dir, 'a.config.json'),
        reason: 'a.config.json is not started: the vassal a is already a.config.js; one name, one config file',
      },
    ]);
  });
});

describe('%n in a vassal config file', () => {
  it('is the name in every string, %% a literal %, and leaves other values and the original alone', () => {
    const plugin = () => {};
    const config = { bind: ['unix:/run/%n.sock'], app: '/srv/%n/app.js', label: '100%% %n %x', workers: 2, plugins: [plugin] };
    expect(fillVassalName(config, 'site-a')).toEqual({
      bind: ['unix:/run/site-a.sock'],
      app: '/srv/site-a/app.js',
      label: '100% site-a %x',
      workers: 2,
      plugins: [plugin],
    });
    expect(config.app).toBe('/srv/%n/app.js');
  });
});
