import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Extensions tried, in order, for a module path given without one. */
export const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'] as const;

/** The outcome of a resolution: the file, or the places that were looked at. */
export type Resolution = { file: string } | { tried: string[] };

const isFile = (p: string) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
const isDirectory = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/**
 * Resolve MODULE as Node would from `cwd`. A path (`./app`, `../srv/app.ts`, `/abs/app`) is a file,
 * with or without extension, or a directory with a package.json or an index. A bare name (`app`) is
 * first a file or directory in `cwd`, as Gunicorn finds `app:application` on the working directory,
 * then an installed package.
 */
export function resolveModule(spec: string, cwd: string): Resolution {
  const tried: string[] = [];
  const local = resolvePath(path.resolve(cwd, spec), tried);
  if (local) return { file: local };
  if (isPathLike(spec)) return { tried };
  const pkg = resolvePackage(spec, cwd);
  if (pkg) return { file: pkg };
  tried.push(`the package ${JSON.stringify(spec)}`);
  return { tried };
}

const isPathLike = (spec: string) => spec.startsWith('.') || path.isAbsolute(spec);

function resolvePath(base: string, tried: string[]): string | undefined {
  tried.push(base);
  if (isFile(base)) return base;
  for (const ext of EXTENSIONS) if (isFile(base + ext)) return base + ext;
  if (!isDirectory(base)) return undefined;
  const manifest = readManifest(path.join(base, 'package.json'));
  const entry = manifest && exportedEntry(manifest, '.');
  // An entry naming the directory itself ("main": "./") falls through to its index.
  if (entry && path.resolve(base, entry) !== base) {
    const file = resolvePath(path.join(base, entry), tried);
    if (file) return file;
  }
  for (const ext of EXTENSIONS) if (isFile(path.join(base, `index${ext}`))) return path.join(base, `index${ext}`);
  return undefined;
}

/** An installed package: CommonJS resolution first, then the package's ESM `exports`. */
function resolvePackage(spec: string, cwd: string): string | undefined {
  try {
    const file = createRequire(path.join(cwd, 'noop.js')).resolve(spec);
    if (path.isAbsolute(file)) return file;
  } catch {
    // An ESM-only package (exports with only an "import" condition) is not visible to require.
  }
  const [name, subpath] = splitPackageSpec(spec);
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    const root = path.join(dir, 'node_modules', name);
    const manifest = readManifest(path.join(root, 'package.json'));
    if (manifest) {
      const entry = exportedEntry(manifest, subpath);
      const file = entry ? path.join(root, entry) : undefined;
      return file && isFile(file) ? file : undefined;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function splitPackageSpec(spec: string): [name: string, subpath: string] {
  const parts = spec.split('/');
  const nameParts = spec.startsWith('@') ? 2 : 1;
  const rest = parts.slice(nameParts).join('/');
  return [parts.slice(0, nameParts).join('/'), rest ? `./${rest}` : '.'];
}

interface Manifest {
  main?: string;
  exports?: unknown;
}

function readManifest(file: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

const CONDITIONS = ['node', 'import', 'require', 'default'];

/** The file a package exposes at `subpath`, through `exports` (conditions as Node's ESM uses) or `main`. */
function exportedEntry(manifest: Manifest, subpath: string): string | undefined {
  const { exports } = manifest;
  if (exports === undefined) return subpath === '.' ? (manifest.main ?? undefined) : subpath;
  const isSubpathMap =
    typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'));
  const target = isSubpathMap ? (exports as Record<string, unknown>)[subpath] : subpath === '.' ? exports : undefined;
  return pickCondition(target);
}

function pickCondition(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const found = pickCondition(item);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof target !== 'object' || target === null) return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (CONDITIONS.includes(condition)) {
      const found = pickCondition(value);
      if (found) return found;
    }
  }
  return undefined;
}
