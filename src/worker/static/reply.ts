/**
 * The static server's answers, once the library has decided the status and headers: the body of a
 * file from memory or streamed from the disk with back-pressure, and the few answers of its own.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { KnownFile, KnownFiles } from './known-files';

/** A short plain-text answer: a refused path, a redirect, a failure. */
export function answerText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The library's own refusal (412, 416, a dotfile denied, a stat that failed): its headers and small page. */
export function answerRefusal(
  req: IncomingMessage,
  res: ServerResponse,
  refusal: { statusCode: number; headers: OutgoingHttpHeaders; stream: Readable },
): void {
  res.writeHead(refusal.statusCode, refusal.headers);
  if (req.method === 'HEAD') res.end();
  else refusal.stream.pipe(res);
}

/** `bytes a-b/size` of a 206: the first and last byte sent. */
function rangeOf(contentRange: string | undefined, size: number): [number, number] {
  const match = contentRange ? /^bytes (\d+)-(\d+)\//.exec(contentRange) : null;
  return match ? [Number(match[1]), Number(match[2])] : [0, size - 1];
}

/**
 * A 200 or 206 with its body: the file's bytes from memory when it is small (read once, kept while
 * the file stays the same), else a stream of the range, which waits on the client.
 */
export async function answerFile(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  path: string,
  known: KnownFile,
  files: KnownFiles,
): Promise<void> {
  const [start, end] = rangeOf(headers['Content-Range'] as string | undefined, known.size);
  if (known.size === 0 || end < start) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  if (files.keeps(known.size)) {
    let body = known.body;
    if (!body) {
      body = await readFile(path);
      files.keepBody(path, known, body);
      // Changed between the library's stat and this read: its headers describe another file.
      if (body.length !== known.size) throw new Error(`${path} changed while it was read`);
    }
    res.writeHead(status, headers);
    res.end(start === 0 && end === body.length - 1 ? body : body.subarray(start, end + 1));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(path, { start, end });
    // Headers only once the file is open: a file that cannot be read is still a clean 500.
    stream.once('error', reject);
    stream.once('ready', () => {
      stream.off('error', reject);
      resolve();
      // The client went away while the file opened: there is no one to send it to. (node:http2's
      // response has no `destroyed`: its stream's says.)
      if (res.destroyed || res.writableEnded || (res as { stream?: { destroyed: boolean } }).stream?.destroyed) {
        return void stream.destroy();
      }
      // A client that goes away ends the read, over HTTP/2 too, where piping into a closed stream never ends.
      res.once('close', () => stream.destroy());
      res.writeHead(status, headers);
      pipeline(stream, res, () => {});
    });
  });
}
