import { existsSync, readFileSync } from 'node:fs';

/** The file's non-empty lines; none while it does not exist yet. */
export function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** Wait until `file` holds `count` lines (log lines reach it within a quarter of a second): polled,
 *  with a bound that only catches hangs. */
export async function waitForLines(file: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = readLines(file);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`expected ${count} lines in ${file}:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
