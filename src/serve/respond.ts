/**
 * Answering a request of `patho serve` with a body or a file: the viewer's
 * routes (server.ts) and the browser page's (browser.ts, which adds its
 * cross-origin isolation headers and its MIME types) answer the same way.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { pipeline } from 'node:stream';

/** Content types by lower-case extension. */
export const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.geojson': 'application/geo+json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
};

/** Answers `body` (none to HEAD); `headers` are added to (or override) the usual ones. */
export function send(response: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: OutgoingHttpHeaders = {}): void {
  response.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

/**
 * Streams the file at `path` (already resolved and checked by the caller);
 * its type from `types` by extension, `headers` added to the usual ones.
 */
export async function sendFile(
  response: ServerResponse,
  path: string,
  options: { types?: Readonly<Record<string, string>>; headers?: OutgoingHttpHeaders } = {},
): Promise<void> {
  const { types = TYPES, headers = {} } = options;
  // opened before answering, so a file that cannot be read (permissions, deleted
  // meanwhile) gets a status instead of a broken 200; O_NONBLOCK so that a FIFO
  // cannot hold the open, and what is opened is the file whose size is sent
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let streaming = false;
  try {
    const info = await file.stat();
    if (!info.isFile()) return send(response, 404, 'text/plain; charset=utf-8', 'not a file\n', headers);
    response.writeHead(200, {
      'Content-Type': types[extname(path).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'X-Content-Type-Options': 'nosniff',
      ...headers,
    });
    if (response.req.method === 'HEAD') return void response.end();
    // pipeline closes the file however the download ends: done, failed, or the client gone
    streaming = true;
    pipeline(file.createReadStream(), response, () => {});
  } finally {
    if (!streaming) await file.close();
  }
}
