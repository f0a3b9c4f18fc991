/**
 * The parsers settings of several sections share: numbers, choices, durations, sizes, paths. A
 * parser used by one setting only is declared beside it, in its section's file.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import { cannotEnter } from '../../shared/dir-access';
import { parseDuration } from '../duration';
import { parseSize } from '../size';
import type { Parser } from './spec';

export const wholeNumber =
  (min: number): Parser<number> =>
  (raw) => {
    const value = raw.trim();
    return /^\d+$/.test(value) && Number(value) >= min ? Number(value) : { refused: '' };
  };

/** A whole number from `min` to `max`. */
export const wholeNumberUpTo =
  (min: number, max: number): Parser<number> =>
  (raw, ctx) => {
    const value = wholeNumber(min)(raw, ctx);
    return typeof value === 'number' && value > max ? { refused: '' } : value;
  };

export const choice =
  <T extends string>(...choices: T[]): Parser<T> =>
  (raw) =>
    (choices as string[]).includes(raw) ? (raw as T) : { refused: '' };

/** A value named in `table`, in any case (Gunicorn's names and numbers beside ours). */
export const fromTable =
  <T>(table: Record<string, T>): Parser<T> =>
  (raw) =>
    table[raw.trim().toLowerCase()] ?? { refused: '' };

export const yesNo: Parser<boolean> = (raw) => (raw === 'true' ? true : raw === 'false' ? false : { refused: '' });

/** What every switch (--reload, --capture-output) has in common: off unless given. */
export const OFF_SWITCH = { accepted: 'true or false', switch: true, parse: yesNo, defaultValue: () => false, defaultText: 'off' } as const;

export const duration: Parser<number> = (raw) => parseDuration(raw) ?? { refused: '' };

export const size: Parser<number> = (raw) => parseSize(raw) ?? { refused: '' };

export const nonEmpty: Parser<string> = (raw) => (raw.trim() === '' ? { refused: 'empty' } : raw.trim());

export const existingFile: Parser<string | undefined> = (raw, ctx) => {
  const file = path.resolve(ctx.cwd, raw);
  const blocked = cannotEnter(path.dirname(file));
  if (blocked) return { refused: blocked };
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return { refused: `no such file: ${file}` };
  return stat.isFile() ? file : { refused: `not a file: ${file}` };
};

export const filePath: Parser<string | undefined> = (raw, ctx) => {
  if (raw.trim() === '') return { refused: 'empty' };
  const file = path.resolve(ctx.cwd, raw);
  const blocked = cannotEnter(path.dirname(file));
  if (blocked) return { refused: blocked };
  const dir = statSync(path.dirname(file), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) return { refused: `no such directory: ${path.dirname(file)}` };
  return file;
};

/** A file path, or '-' for a standard stream. */
export const fileOrDash: Parser<string | undefined> = (raw, ctx) => (raw.trim() === '-' ? '-' : filePath(raw, ctx));

/** As fileOrDash, and the file (or, before it exists, its directory) can be written, and is not a
 *  directory: a log file that cannot be opened would otherwise fail the arbiter's start, or the
 *  workers' boot, after binding. */
export const writableFileOrDash: Parser<string | undefined> = (raw, ctx) => {
  const file = fileOrDash(raw, ctx);
  if (typeof file !== 'string' || file === '-') return file;
  const existing = statSync(file, { throwIfNoEntry: false });
  const target = existing ? file : path.dirname(file);
  try {
    accessSync(target, fsConstants.W_OK);
  } catch {
    return { refused: `cannot write to ${target}` };
  }
  return existing?.isDirectory() ? { refused: `a directory: ${file}` } : file;
};

export const directory: Parser<string | undefined> = (raw, ctx) => {
  const dir = path.resolve(ctx.cwd, raw);
  // The directory itself too: unicorn changes into it.
  const blocked = cannotEnter(dir);
  if (blocked) return { refused: blocked };
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) return { refused: 'no such directory' };
  return stat.isDirectory() ? dir : { refused: 'not a directory' };
};
