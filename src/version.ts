import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package version, read once from package.json (two levels above dist/src). */
export const VERSION: string = (
  JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
