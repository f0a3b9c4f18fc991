/**
 * docs/settings.md, generated from the settings registry: `npm run docs` writes it, and a test fails
 * when the file and the registry disagree.
 */
import { SETTINGS, type SettingSpec } from './settings';

const SECTIONS: Record<SettingSpec['section'], string> = {
  server: 'Server',
  worker: 'Workers',
  recycling: 'Recycling',
};

export function renderSettingsDoc(): string {
  const lines = [
    '# Settings',
    '',
    '<!-- Generated from src/config/settings.ts by `npm run docs`; edit the registry, not this file. -->',
    '',
    'Every setting, by section. A flag given on the command line wins over an environment variable,',
    'which wins over the default. Durations are `ms`-style strings (`30s`, `2m`, `500ms`) or a number of',
    'seconds. A refused value stops unicorn with exit code 2 and a message naming the source, the value',
    'and what is accepted.',
  ];
  for (const [section, title] of Object.entries(SECTIONS)) {
    lines.push('', `## ${title}`);
    for (const setting of SETTINGS as readonly SettingSpec[]) {
      if (setting.section !== section) continue;
      lines.push('', `### \`${setting.flags}\``, '', `${capitalize(setting.description)}.`, '');
      lines.push(`- name: \`${setting.key}\` (as \`--print-config\` shows it)`);
      if (setting.env) lines.push(`- environment: \`${setting.env}\``);
      lines.push(`- default: ${setting.defaultText}`);
      lines.push(`- accepted: ${setting.accepted}`);
      if (setting.repeatable) lines.push('- repeatable');
      if (setting.onlyFor) lines.push(`- applies to the \`${setting.onlyFor}\` worker class only`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
