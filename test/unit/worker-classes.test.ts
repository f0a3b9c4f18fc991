import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveSettings, SETTINGS } from '../../src/config/settings';
import { WORKER_CLASS_NAMES, WORKER_CLASSES } from '../../src/config/worker-classes';
import { WORKER_CLASS_IMPLEMENTATIONS } from '../../src/worker/classes/registry';
import { refusal } from '../helpers/refusal';
import { typeErrors } from '../helpers/typecheck';

const ROOT = path.join(__dirname, '..', '..');

describe('the worker class registry and --worker-class', () => {
  it('has an implementation for every name in the catalogue, and none for another name', () => {
    expect(Object.keys(WORKER_CLASS_IMPLEMENTATIONS).sort()).toEqual([...WORKER_CLASS_NAMES].sort());
    for (const name of WORKER_CLASS_NAMES) {
      const implementation = WORKER_CLASS_IMPLEMENTATIONS[name];
      expect({ name, constructs: typeof implementation }).toEqual({ name, constructs: 'function' });
      expect(typeof implementation.pausedAccept).toBe('boolean');
      expect(typeof implementation.oneStreamAtATime).toBe('boolean');
    }
  });

  it('accepts every catalogue name, and describes each with its line', () => {
    for (const name of WORKER_CLASS_NAMES) expect(resolveSettings('app', { workerClass: name }, {}).settings.workerClass).toBe(name);
    const setting = SETTINGS.find((s) => s.key === 'workerClass')!;
    for (const name of WORKER_CLASS_NAMES) expect(setting.description).toContain(`${name}: ${WORKER_CLASSES[name]}`);
  });

  it('refuses an unknown class, naming the accepted ones', () => {
    const err = refusal(() => resolveSettings('app', { workerClass: 'gevent' }, {}));
    expect(err.message).toBe('--worker-class "gevent" is not accepted: expected sync or async');
    for (const name of WORKER_CLASS_NAMES) expect(err.message).toContain(name);
    expect(err.exitCode).toBe(2);
  });

  it('makes a registry without an implementation for a catalogue name, or with one for another name, a type error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unicorn-worker-classes-'));
    try {
      const registry = path.join(ROOT, 'src', 'worker', 'classes', 'registry');
      const sync = path.join(ROOT, 'src', 'worker', 'classes', 'sync');
      const file = path.join(dir, 'registries.ts');
      writeFileSync(
        file,
        `import { WORKER_CLASS_IMPLEMENTATIONS } from ${JSON.stringify(registry)};\n` +
          `import { SyncWorker } from ${JSON.stringify(sync)};\n` +
          'export const missing: typeof WORKER_CLASS_IMPLEMENTATIONS = { sync: SyncWorker };\n' +
          'export const extra: typeof WORKER_CLASS_IMPLEMENTATIONS = { ...WORKER_CLASS_IMPLEMENTATIONS, gevent: SyncWorker };\n',
      );
      const errors = typeErrors([file], dir, { skipLibCheck: true });
      expect(errors).toEqual([
        expect.stringMatching(/^registries\.ts: Property 'async' is missing/),
        expect.stringMatching(/^registries\.ts: Object literal may only specify known properties, and 'gevent' does not exist/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
