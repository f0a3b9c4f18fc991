export const SIZE_FORMS = 'a size such as 512MB, 1.5GB or 800K (binary units: 1K = 1024 bytes), a number of bytes, or 0 for no limit';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parse a memory size into bytes. Units are binary whatever their spelling (`K`, `KB`, `KiB`), as
 * memory limits are for Docker, PM2 and the kernel's own accounting.
 */
export function parseSize(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?$/i.exec(raw.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? match[3] ?? '').toLowerCase();
  return Math.round(Number(match[1]) * UNITS[unit]!);
}

/** A size for logs: the largest binary unit that keeps it at least 1. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes >= factor) return `${Number((bytes / factor).toFixed(1))}${unit}`;
  }
  return `${bytes}B`;
}

/** A size as a flag takes it, exactly (for --print-config): the largest binary unit that divides it
 *  (`512MB`), else a number of bytes (`8190`, which `formatSize` would round to 8KB). */
export function formatSizeExactly(bytes: number): string {
  for (const [unit, factor] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}
