/**
 * docs/settings.md, generated from the settings registry: `npm run docs` writes it, and a test fails
 * when the file and the registry disagree.
 */
import { CONFIG_FILE_NAMES } from './file-names';
import { SETTINGS, type SettingSpec } from './settings';

const SECTIONS: Record<SettingSpec['section'], string> = {
  server: 'Server',
  sites: 'Apps and static files',
  tls: 'TLS and HTTP/2',
  privileges: 'Privileges',
  worker: 'Workers',
  elastic: 'Elastic workers',
  security: 'Security',
  recycling: 'Recycling',
  logging: 'Logging',
  proxy: 'Proxies',
  control: 'Control socket',
  config: 'Configuration and hooks',
  development: 'Development',
};

export function renderSettingsDoc(): string {
  const lines = [
    '# Settings',
    '',
    '<!-- Generated from src/config/settings/ by `npm run docs`; edit the registry, not this file. -->',
    '',
    'Every setting, by section. Sources apply lowest first: the default (which `PORT` and',
    '`WEB_CONCURRENCY` set, where they apply) < the config file < `UNICORN_CMD_ARGS` < the command line.',
    'Durations are `ms`-style strings (`30s`, `2m`, `500ms`) or a number of seconds; sizes are strings',
    '(`512MB`) or a number of bytes. A refused value stops unicorn with exit code 2 and a message naming',
    'the source (flag, variable, or file and key), the value and what is accepted. `--print-config` shows',
    'the effective value of each and where it came from.',
    '',
    '## The config file',
    '',
    `\`-c FILE\`, or else the first of ${CONFIG_FILE_NAMES.map((n) => `\`${n}\``).join(', ')} in the`,
    'directory unicorn starts in. It exports (as its default export, or `module.exports`) an object, or a',
    'function, possibly async, called with `{ env }` and returning one. `defineConfig()` from the',
    '`unicorn-server` package types it. Its keys are the settings below (by the name `--print-config`',
    'shows), and:',
    '',
    "- `app`: the app, as `MODULE[:EXPORT]`; the command line's wins.",
    '- `plugins`: hook plugins, in order: a module (path, package, or a first-party name), `[module, options]`,',
    '  a plugin function, or an object of hooks. They run before `--hook` plugins. See docs/hooks.md.',
    "- the hooks themselves (`onStarting`, `preRequest`, …): they run after every plugin's.",
    '',
    'An unknown key is refused with the nearest known one. The arbiter and each worker read the file',
    'themselves (hooks are functions, which do not cross the process boundary), and HUP reads it again.',
  ];
  for (const [section, title] of Object.entries(SECTIONS)) {
    lines.push('', `## ${title}`);
    for (const setting of SETTINGS as readonly SettingSpec[]) {
      if (setting.section !== section) continue;
      lines.push('', `### \`${setting.flags}\``, '', `${capitalize(setting.description)}.`, '');
      lines.push(setting.notInConfigFile ? `- config file: no (${setting.notInConfigFile})` : `- config file: \`${setting.key}\``);
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
