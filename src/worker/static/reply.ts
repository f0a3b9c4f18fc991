/**
 * The static server's answers, once the library has decided the status and headers: the body of a
 * file from memory or streamed from the disk with back-pressure, or the library's own refusal.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { type KnownFile, type KnownFiles, sameFile } from './known-files';

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
 * A 200 or 206 with its body, from the file as opened (open-file.ts): its bytes from memory when it
 * is small (read once, kept while the file stays the same), else a stream of the range from the
 * descriptor, which waits on the client and closes the descriptor when done ('streamed'). 'changed':
 * the file changed while it was read, and nothing was sent.
 */
export async function answerFile(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  file: string,
  { handle, known }: { handle: FileHandle; known: KnownFile },
  files: KnownFiles,
): Promise<'sent' | 'streamed' | 'changed'> {
  const [start, end] = rangeOf(headers['Content-Range'] as string | undefined, known.size);
  if (known.size === 0 || end < start) {
    res.writeHead(status, headers);
    res.end();
    return 'sent';
  }
  if (files.keeps(known.size)) {
    let body = known.body;
    if (!body) {
      body = await handle.readFile();
      // Written to while it was read: the bytes may be of neither version.
      if (body.length !== known.size || !sameFile(await handle.stat(), known)) return 'changed';
      files.keepBody(file, known, body);
    }
    res.writeHead(status, headers);
    res.end(start === 0 && end === body.length - 1 ? body : body.subarray(start, end + 1));
    return 'sent';
  }
  // The client went away while the file opened: there is no one to send it to. (node:http2's
  // response has no `destroyed`: its stream's says.)
  if (res.destroyed || res.writableEnded || (res as { stream?: { destroyed: boolean } }).stream?.destroyed) return 'sent';
  const stream = createReadStream(file, { fd: handle, start, end });
  // A client that goes away ends the read, over HTTP/2 too, where piping into a closed stream never ends.
  res.once('close', () => stream.destroy());
  res.writeHead(status, headers);
  pipeline(stream, res, () => {});
  return 'streamed';
}
