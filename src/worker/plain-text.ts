/**
 * The worker's own short answers — a refused request, a 404 where no app is mounted, a 500 for an
 * app that threw, a static file's redirect — one line of plain text, with its length and any
 * headers given. No body for a HEAD, over HTTP/2 too.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

export function answerPlainText(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
