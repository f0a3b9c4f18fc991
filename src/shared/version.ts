import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package version, read once from package.json (three levels above dist/src/shared). */
export const VERSION: string = (
  JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
