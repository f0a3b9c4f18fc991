/**
 * Which files in the emperor's directory are vassals: every `NAME.config.EXT` directly in it, EXT
 * one a config file may have. A name starting with `.` or `_` is not a vassal (a shared template,
 * an editor's file), so that a family of symlinks can point at a file beside them.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

const VASSAL_FILE = /^([^._][^/]*)\.config\.(ts|mts|cts|mjs|js|cjs|json)$/;

/** The vassal's name for a file in the directory, or undefined when it is not a vassal's file. */
export function vassalName(file: string): string | undefined {
  return VASSAL_FILE.exec(path.basename(file))?.[1];
}

export interface VassalFile {
  name: string;
  file: string;
}

/** The vassals' files in `dir`, by name; a second file of one name is in `refused` with why. */
export function scanVassalFiles(dir: string): { found: VassalFile[]; refused: { file: string; reason: string }[] } {
  const found = new Map<string, VassalFile>();
  const refused: { file: string; reason: string }[] = [];
  // Sorted, so that which of two files of one name wins does not depend on the directory's order.
  for (const entry of readdirSync(dir).sort()) {
    const name = vassalName(entry);
    if (name === undefined) continue;
    const file = path.join(dir, entry);
    const first = found.get(name);
    if (first) refused.push({ file, reason: duplicateReason(name, file, first.file) });
    else found.set(name, { name, file });
  }
  return { found: [...found.values()], refused };
}

export const duplicateReason = (name: string, file: string, first: string): string =>
  `${path.basename(file)} is not started: the vassal ${name} is already ${path.basename(first)}; one name, one config file`;
