/**
 * What a worker has learned about the files it serves, per absolute path, for as long as the file
 * stays the same one (device, inode, size and modification time, from the stat the library made
 * for the request): whether it is inside its directory, its precompressed siblings, its
 * Cache-Control, and the bytes of a small file. Bounded: the oldest entries go first.
 */
import type { Stats } from 'node:fs';
import type { Coding } from './encodings';

export interface KnownFile {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** Its real path is inside the directory's real path (a symbolic link may lead out). */
  inside?: boolean;
  /** The siblings found next to it, best first. */
  codings?: Coding[];
  /** The original's Content-Type, which a sibling is answered with. */
  contentType?: string;
  cacheControl?: string;
  /** The whole file, when it is small enough to keep. */
  body?: Buffer;
}

export interface KnownFilesBounds {
  /** Files remembered at most. */
  entries: number;
  /** A file larger than this is streamed from the disk each time. */
  fileBytes: number;
  /** The bytes of all the files kept together. */
  totalBytes: number;
}

/** The same file as `known` describes: device, inode, size and modification time. */
export const sameFile = (stat: Stats, known: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs'>): boolean =>
  known.ino === stat.ino && known.mtimeMs === stat.mtimeMs && known.size === stat.size && known.dev === stat.dev;

export class KnownFiles {
  private readonly files = new Map<string, KnownFile>();
  private bodyBytes = 0;

  constructor(readonly bounds: KnownFilesBounds) {}

  /** What is known of the file at `path` as `stat` has it: a fresh entry when it has changed. */
  get(path: string, stat: Stats): KnownFile {
    const known = this.files.get(path);
    if (known && sameFile(stat, known)) return known;
    if (known) this.forget(path, known);
    const fresh: KnownFile = { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs };
    this.files.set(path, fresh);
    this.evict();
    return fresh;
  }

  /** Whether a file of this size is kept in memory. */
  keeps(size: number): boolean {
    return size <= this.bounds.fileBytes && size <= this.bounds.totalBytes;
  }

  /** Keep the file's bytes (read after the stat: kept only if the size still agrees). */
  keepBody(path: string, known: KnownFile, body: Buffer): void {
    if (body.length !== known.size || this.files.get(path) !== known || known.body) return;
    known.body = body;
    this.bodyBytes += body.length;
    this.evict();
  }

  get size(): number {
    return this.files.size;
  }

  get keptBytes(): number {
    return this.bodyBytes;
  }

  private forget(path: string, known: KnownFile): void {
    this.files.delete(path);
    if (known.body) this.bodyBytes -= known.body.length;
  }

  private evict(): void {
    for (const [path, known] of this.files) {
      if (this.files.size <= this.bounds.entries && this.bodyBytes <= this.bounds.totalBytes) return;
      this.forget(path, known);
    }
  }
}
