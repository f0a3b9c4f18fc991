/**
 * The answers to plain GETs of small files, replayed: a request with no condition and no range,
 * for a path answered before, gets the headers the library gave then, while a stat of the file (a
 * synchronous one, as nginx's event loop makes it) shows the same file. Such a request is answered
 * in the turn it arrives, with no trip through the thread pool: for a `sync` worker, which serves
 * nothing else meanwhile, that is most of the cost of a small file. Anything else goes to the library.
 */
import { statSync } from 'node:fs';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { acceptedCodings } from './encodings';
import type { KnownFile, KnownFiles } from './known-files';

export interface Answer {
  /** The file the library chose: the index of a directory, or a precompressed sibling. */
  file: string;
  known: KnownFile;
  /** The library's 200 headers, with ours; never changed once kept. */
  headers: OutgoingHttpHeaders;
}

/** The longest path remembered: with at most 10,000 answers per directory, a few MB of keys. */
const MOST_KEY_CHARS = 512;

/** Headers that make a request's answer depend on more than the file. */
const CONDITIONS = ['range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since'] as const;

export class RepeatAnswers {
  private readonly answers = new Map<string, Answer>();

  constructor(private readonly limit: number) {}

  /** What a request is remembered by: its path, and which siblings' codings it takes (not the
   *  header as sent, which a client may vary without end) when siblings may be chosen by them;
   *  undefined for a request with a condition or a range, which the library answers. */
  static key(pathname: string, headers: IncomingHttpHeaders, byEncoding: boolean): string | undefined {
    // Only a path as a browser writes it: its other spellings (encoded letters, doubled slashes)
    // would each be remembered, in as many bytes as a client cares to send.
    if (pathname.length > MOST_KEY_CHARS || pathname.includes('%') || pathname.includes('//')) return undefined;
    for (const name of CONDITIONS) if (headers[name] !== undefined) return undefined;
    return byEncoding ? `${pathname}\n${acceptedCodings(headers['accept-encoding']).join(',')}` : pathname;
  }

  /** The answer given for `key`, if the file is still the one it was given from and its bytes are in memory. */
  find(key: string, files: KnownFiles): Answer | undefined {
    const answer = this.answers.get(key);
    if (!answer) return undefined;
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(answer.file, { throwIfNoEntry: false });
    } catch {
      stats = undefined;
    }
    if (stats && files.get(answer.file, stats) === answer.known && answer.known.body) return answer;
    this.answers.delete(key);
    return undefined;
  }

  remember(key: string, answer: Answer): void {
    this.answers.delete(key);
    this.answers.set(key, answer);
    if (this.answers.size > this.limit) this.answers.delete(this.answers.keys().next().value!);
  }
}
