/**
 * --static PREFIX=DIR: the files of a directory, served by the worker before the apps (docs/static.md).
 * The library (@fastify/send) decides every answer's status and headers, from one stat: conditional
 * requests, ranges, content types, index.html, dotfiles. It is asked as for a HEAD, so it opens no
 * stream; the body is written here, from memory for small files (static/reply.ts).
 */
import type { Stats } from 'node:fs';
import { opendir, realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import path from 'node:path';
import send, { type SendOptions } from '@fastify/send';
import type { StaticDir } from '../config/mount-spec';
import type { Settings } from '../config/settings';
import { staticDirError } from '../shared/errors';
import { answerPlainText } from './plain-text';
import { acceptedCodings, type Coding, SIBLINGS } from './static/encodings';
import { type KnownFile, KnownFiles, type KnownFilesBounds } from './static/known-files';
import { type Opened, openChecked } from './static/open-file';
import { RepeatAnswers } from './static/repeat-answers';
import { answerFile, answerRefusal } from './static/reply';
import { checkPath } from './static/request-path';

type StaticSettings = Pick<
  Settings,
  'staticMaxAge' | 'staticImmutable' | 'staticDotfiles' | 'staticFollowSymlinks' | 'staticPrecompressed' | 'staticCacheSize'
>;

/** Files remembered per directory in each worker, and the largest kept in memory (--static-cache-size bounds their bytes). */
const MOST_FILES = 10_000;
const LARGEST_KEPT = 1024 * 1024;

/** What --static-cache-size keeps: files of up to an eighth of it (so that several fit), 1 MB at most. */
export const knownFilesBounds = (totalBytes: number): KnownFilesBounds => ({
  entries: MOST_FILES,
  fileBytes: Math.min(LARGEST_KEPT, Math.floor(totalBytes / 8)),
  totalBytes,
});

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Tries at a file that keeps changing between the library's stat and the open. */
const ATTEMPTS = 5;

export class StaticFiles {
  private readonly known: KnownFiles;
  private readonly repeat = new RepeatAnswers(MOST_FILES);
  /** Prepared once: the library reads it on every call. */
  private readonly options: SendOptions;
  private readonly cacheControl: string;
  private readonly immutable: RegExp | undefined;
  private readonly precompressed: boolean;
  private readonly followSymlinks: boolean;
  /** The prefix as Location headers begin with it ('' at /). */
  private readonly base: string;

  private constructor(
    readonly prefix: string,
    readonly dir: string,
    private realDir: string,
    settings: StaticSettings,
  ) {
    this.known = new KnownFiles(knownFilesBounds(settings.staticCacheSize));
    this.cacheControl = `public, max-age=${Math.floor(settings.staticMaxAge / 1000)}`;
    this.immutable = settings.staticImmutable === undefined ? undefined : new RegExp(settings.staticImmutable);
    this.precompressed = settings.staticPrecompressed;
    this.followSymlinks = settings.staticFollowSymlinks;
    this.base = prefix === '/' ? '' : prefix;
    this.options = {
      root: dir,
      dotfiles: settings.staticDotfiles,
      index: ['index.html'],
      // Set per file, after the library has found it (--static-immutable).
      cacheControl: false,
    };
  }

  /** At boot: a directory that cannot be read fails the boot with a message naming it. */
  static async open(entry: StaticDir, settings: StaticSettings): Promise<StaticFiles> {
    try {
      await (await opendir(entry.dir)).close();
      return new StaticFiles(entry.prefix, entry.dir, await realpath(entry.dir), settings);
    } catch (err) {
      // The system's reason without the call and path it repeats ("EACCES: permission denied").
      throw staticDirError(entry.dir, entry.prefix, (err as Error).message.replace(/, \w+ '.*'$/, ''), err);
    }
  }

  /**
   * Answer a GET or HEAD for a file under the directory. `target` is the request target with the
   * prefix taken off, still percent-encoded, its query kept: it begins with '/', or is empty (or only
   * a query) for the prefix itself, which is redirected to the prefix with a slash, as a directory is.
   * False, once the file is found missing, when the request is not for a file here: it goes on to
   * the apps. True, at once, for an answer given in this turn (static/repeat-answers.ts).
   */
  serve(req: IncomingMessage, res: ServerResponse, target: string): Promise<boolean> | true {
    const query = target.indexOf('?');
    const pathname = query === -1 ? target : target.slice(0, query);
    if (pathname === '') {
      const location = `${this.base}/${target}`;
      answerPlainText(res, 301, `Redirecting to ${location}`, { Location: location });
      return true;
    }
    const checked = checkPath(pathname);
    if ('refused' in checked) {
      answerPlainText(res, checked.refused, checked.refused === 400 ? 'Bad Request' : 'Forbidden');
      return true;
    }
    const key = RepeatAnswers.key(pathname, req.headers, this.precompressed);
    const repeated = key === undefined ? undefined : this.repeat.find(key, this.known);
    if (repeated) {
      res.writeHead(200, repeated.headers);
      res.end(req.method === 'HEAD' ? undefined : repeated.known.body);
      return true;
    }
    return this.answer(req, res, pathname, query === -1 ? '' : target.slice(query), key);
  }

  /**
   * The library's answer, made from the file it found, opened once (static/open-file.ts). A file
   * that changed between the library's stat and the open (a deploy renaming files over) is answered
   * again; after ATTEMPTS, the failure is the request's, which the worker logs and answers 500.
   */
  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
    query: string,
    key: string | undefined,
    attempt = 1,
  ): Promise<boolean> {
    const retry = (file: string) => {
      if (attempt === ATTEMPTS) throw new Error(`${file} changed while it was answered, ${ATTEMPTS} times in a row`);
      return this.answer(req, res, pathname, query, key, attempt + 1);
    };
    // As for a HEAD: the status and headers, with no stream opened.
    const asked = { method: 'HEAD', headers: req.headers } as unknown as IncomingMessage;
    let result = await send(asked, pathname, this.options);
    if (result.type === 'error') {
      // Not here (missing, or an ignored dotfile): the apps may have it.
      if (result.statusCode === 404) return false;
      answerRefusal(req, res, result);
      return true;
    }
    if (result.type === 'directory') {
      // A link to a directory outside is not found here, as a link to a file is.
      if (!this.followSymlinks && !(await this.holds(await realpath(result.metadata.path)))) return false;
      // The library's Location knows nothing of the prefix; and never //host, which leaves the site.
      const location = `${this.base}${pathname}/`.replace(/^\/\/+/, '/') + query;
      answerPlainText(res, 301, `Redirecting to ${location}`, { Location: location });
      return true;
    }
    const original = result.metadata.path;
    let opened = await this.open(original, result.metadata.stat);
    if (opened === 'outside') return false;
    if (opened === 'changed') return retry(original);
    let handed = false;
    try {
      const known = opened.known;
      const headers: OutgoingHttpHeaders = result.headers;
      known.cacheControl ??= this.immutable?.test(path.relative(this.dir, original).split(path.sep).join('/'))
        ? IMMUTABLE
        : this.cacheControl;
      headers['Cache-Control'] = known.cacheControl;
      if (this.precompressed) {
        known.codings ??= await this.siblings(original);
        if (known.codings.length > 0) headers.Vary = 'Accept-Encoding';
        const sibling = await this.variant(req, asked, original, known);
        if (sibling?.type === 'error') {
          answerRefusal(req, res, sibling);
          return true;
        }
        if (sibling) {
          const variant = await this.open(sibling.metadata.path, sibling.metadata.stat);
          if (variant === 'changed') return await retry(sibling.metadata.path);
          // A sibling that leads out is not there: the original is answered.
          if (variant !== 'outside') {
            await opened.handle.close();
            opened = variant;
            result = sibling;
          }
        }
      }
      const status = result.statusCode;
      if (status === 304 || req.method === 'HEAD') {
        res.writeHead(status, result.headers);
        res.end();
        return true;
      }
      const served = result.metadata.path;
      const sent = await answerFile(res, status, result.headers, served, opened, this.known);
      if (sent === 'changed') return await retry(served);
      handed = sent === 'streamed';
      if (key !== undefined && status === 200 && opened.known.body)
        this.repeat.remember(key, { file: served, known: opened.known, headers: result.headers });
      return true;
    } finally {
      if (!handed) await opened.handle.close();
    }
  }

  /** The file the library found, opened, and what is known of it; its real path checked once per version. */
  private async open(file: string, expected: Stats): Promise<(Opened & { known: KnownFile }) | 'changed' | 'outside'> {
    const known = this.known.get(file, expected);
    const check = this.followSymlinks || known.inside ? undefined : (real: string) => this.holds(real);
    const opened = await openChecked(file, expected, check);
    if (typeof opened === 'string') return opened;
    // A verdict against links out is not kept: a deploy may bring the file into the directory.
    if (check) known.inside = true;
    return { ...opened, known };
  }

  /**
   * The answer from the precompressed sibling the request takes, if any: its own ETag, length and
   * conditions, with the original's Content-Type. A range is always of the original file.
   */
  private async variant(req: IncomingMessage, asked: IncomingMessage, original: string, known: KnownFile) {
    if (known.codings!.length === 0 || req.headers.range !== undefined) return undefined;
    const coding = acceptedCodings(req.headers['accept-encoding']).find((c) => known.codings!.includes(c));
    const sibling = coding && (await this.sibling(asked, original, coding, known.cacheControl!));
    if (sibling?.type === 'file' && sibling.statusCode !== 304) {
      known.contentType ??= contentTypeOf(original);
      if (known.contentType) sibling.headers['Content-Type'] = known.contentType;
    }
    return sibling || undefined;
  }

  /** The sibling's own answer, as the original's variant; undefined when it is gone. */
  private async sibling(asked: IncomingMessage, original: string, coding: Coding, cacheControl: string) {
    const ending = SIBLINGS.find((s) => s.coding === coding)!.ending;
    const relative = path.relative(this.dir, original).split(path.sep).map(encodeURIComponent).join('/');
    const result = await send(asked, `/${relative}${ending}`, this.options);
    if (!result || result.type === 'directory' || (result.type === 'error' && result.statusCode === 404)) return undefined;
    if (result.type === 'file') {
      const headers = result.headers as OutgoingHttpHeaders;
      // A 304 describes the variant the client has, as the library's own 304 does: no Content-* fields.
      if (result.statusCode !== 304) headers['Content-Encoding'] = coding;
      headers['Cache-Control'] = cacheControl;
      headers.Vary = 'Accept-Encoding';
    }
    return result;
  }

  /** The precompressed siblings next to a file, best first: looked for once per version of the file. */
  private async siblings(file: string): Promise<Coding[]> {
    const found: Coding[] = [];
    for (const { coding, ending } of SIBLINGS) {
      const stats = await stat(`${file}${ending}`).catch(() => undefined);
      if (stats?.isFile()) found.push(coding);
    }
    return found;
  }

  /** Whether a real path is in the directory's. The directory may itself be reached through a link
   *  that a deploy has moved since (`current -> releases/N`): its real path is taken again then. */
  private async holds(real: string): Promise<boolean> {
    const within = () => real === this.realDir || real.startsWith(`${this.realDir}${path.sep}`);
    if (within()) return true;
    this.realDir = await realpath(this.dir).catch(() => this.realDir);
    return within();
  }
}

/** The Content-Type the library gives the original file, for its compressed sibling. */
function contentTypeOf(file: string): string | undefined {
  const type = send.mime.getType(file);
  if (!type) return undefined;
  return send.isUtf8MimeType(type) ? `${type}; charset=utf-8` : type;
}
