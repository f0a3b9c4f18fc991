import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { renderSettingsDoc } from '../../src/config/settings-doc';

describe('docs/settings.md', () => {
  const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'settings.md'), 'utf8');

  it('is what the settings registry generates (run `npm run docs` after changing a setting)', () => {
    expect(doc).toBe(renderSettingsDoc());
  });

  it('documents every setting', () => {
    for (const setting of SETTINGS) expect(doc).toContain(`### \`${setting.flags}\``);
  });
});
