/**
 * The `patho serve` web server (node:http): the viewer page, the list of
 * items, Deep Zoom descriptors and tiles of files under the served folder,
 * the files themselves, and OpenSeadragon from node_modules. GET and HEAD
 * only; nothing outside the folder (and OpenSeadragon's build) is read.
 *
 *   GET /                                   the viewer page
 *   GET /api/items                          the folder's items (JSON)
 *   GET /dzi/PATH.dzi                       Deep Zoom descriptor of PATH
 *   GET /dzi/PATH_files/L/C_R.jpg|png       a tile (?style=image|fill|outline&colour=prediction|truth,
 *                                           or &overlay=agreement&truth=TRUTH: PATH compared with TRUTH)
 *   GET /files/PATH                         PATH itself
 *   GET /vendor/openseadragon/FILE          OpenSeadragon
 *   GET /browser/...                        a run's model in the browser (browser.ts)
 */
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { handleBrowser } from './browser.js';
import { findItems } from './catalog.js';
import { viewerPage } from './page.js';
import { resolveInside } from './paths.js';
import { send, sendFile, TYPES } from './respond.js';
import { dziDescriptor, OVERLAY_COLOURS, pyramidOfFile, renderTile, TileRefused, TruthMismatch, type Overlay, type OverlayColour, type TileStyle } from './tiles.js';

/** Options of `startServer`. */
export interface ServerOptions {
  /** The folder to serve. */
  dir: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
}

/** A running server. */
export interface RunningServer {
  server: Server;
  /** http://host:port/ */
  url: string;
  close(): Promise<void>;
}

/** Starts serving `dir`; resolves once the server listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const root = await realpath(options.dir);
  if (!(await stat(root)).isDirectory()) throw new Error(`${options.dir} is not a folder`);
  const vendor = await realpath(dirname(createRequire(import.meta.url).resolve('openseadragon')));
  const host = options.host ?? '127.0.0.1';
  const page = viewerPage(options.dir);
  const server = createServer((request, response) => {
    handle(request, response, { root, vendor, page, loopbackOnly: isLoopback(host) }).catch((error: unknown) => {
      if (response.headersSent || response.destroyed) return void response.destroy();
      const { status, reason } = failure(error);
      send(response, status, 'text/plain; charset=utf-8', `${reason}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // an open viewer keeps its connection alive; stopping should not wait for it
        server.closeAllConnections();
      }),
  };
}

interface Context {
  root: string;
  vendor: string;
  page: string;
  loopbackOnly: boolean;
}

async function handle(request: IncomingMessage, response: ServerResponse, context: Context): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
  }
  // served to this machine only, a page from another site must not read it
  // through a DNS name that points here (DNS rebinding): the Host must be local
  if (context.loopbackOnly && !isLoopback(hostName(request.headers.host ?? ''))) {
    return send(response, 403, 'text/plain; charset=utf-8', 'this server answers requests to localhost only\n');
  }
  // the raw target, not a parsed URL: URL parsing would fold `..` away instead of refusing it
  const target = request.url ?? '';
  if (!target.startsWith('/')) return send(response, 400, 'text/plain; charset=utf-8', 'bad request target\n');
  const queryAt = target.indexOf('?');
  const path = queryAt < 0 ? target : target.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1));

  if (path === '/') return send(response, 200, TYPES['.html'], context.page);
  if (path === '/favicon.ico') return send(response, 204, 'image/x-icon', '');
  if (path === '/api/items') return send(response, 200, TYPES['.json'], JSON.stringify(await findItems(context.root)));
  if (path.startsWith('/vendor/openseadragon/')) return sendResolved(response, context.vendor, path.slice('/vendor/openseadragon/'.length));
  if (path.startsWith('/files/')) return sendResolved(response, context.root, path.slice('/files/'.length));
  if (path.startsWith('/dzi/')) return sendDeepZoom(response, context.root, path.slice('/dzi/'.length), query);
  if (path.startsWith('/browser/')) return handleBrowser(response, context.root, path.slice('/browser/'.length));
  return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
}

async function sendResolved(response: ServerResponse, root: string, encoded: string): Promise<void> {
  const resolved = await resolveInside(root, encoded);
  if (!resolved.ok) return send(response, resolved.status, 'text/plain; charset=utf-8', `${resolved.reason}\n`);
  return sendFile(response, resolved.path);
}

async function sendDeepZoom(response: ServerResponse, root: string, encoded: string, query: URLSearchParams): Promise<void> {
  const asked = await tileQuery(root, query);
  if ('status' in asked) return send(response, asked.status, 'text/plain; charset=utf-8', `${asked.reason}\n`);
  const { style, overlay } = asked;
  const tile = /^(.+)_files\/(\d+)\/(\d+)_(\d+)\.(jpg|png)$/.exec(encoded);
  const descriptor = /^(.+)\.dzi$/.exec(encoded);
  if (!tile && !descriptor) return send(response, 404, 'text/plain; charset=utf-8', 'not a Deep Zoom path\n');
  const resolved = await resolveInside(root, (tile ?? descriptor)![1]);
  if (!resolved.ok) return send(response, resolved.status, 'text/plain; charset=utf-8', `${resolved.reason}\n`);
  if (!(await stat(resolved.path)).isFile()) return send(response, 404, 'text/plain; charset=utf-8', 'not a file\n');
  // a viewer that moves on drops its pending requests: those are not drawn
  const gone = new AbortController();
  response.once('close', () => gone.abort());
  if (descriptor) {
    const pyramid = await pyramidOfFile(resolved.path, gone.signal, overlay);
    return send(response, 200, 'application/xml', dziDescriptor(pyramid, style === 'image' ? 'jpg' : 'png'));
  }
  const [level, column, row] = [tile![2], tile![3], tile![4]].map(Number);
  const bytes = await renderTile(resolved.path, level, column, row, style, overlay, gone.signal);
  if (!bytes) return send(response, 404, 'text/plain; charset=utf-8', 'no such tile\n');
  return send(response, 200, style === 'image' ? 'image/jpeg' : 'image/png', bytes);
}

const TILE_STYLES: readonly TileStyle[] = ['image', 'fill', 'outline'];
const OVERLAYS = ['mask', 'agreement'] as const;

/**
 * The drawing a Deep Zoom request asks for: ?style=image|fill|outline, and for
 * a mask ?colour=prediction|truth, or ?overlay=agreement&truth=PATH to compare
 * it with the ground truth at PATH (under the served folder). A bad value is
 * a refusal that names its parameter.
 */
async function tileQuery(root: string, query: URLSearchParams): Promise<{ style: TileStyle; overlay: Overlay } | { status: 400 | 404; reason: string }> {
  const bad = (parameter: string, allowed: readonly string[]) => ({
    status: 400 as const,
    reason: `${parameter} must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, not ${JSON.stringify(query.get(parameter)!.slice(0, 100))}`,
  });
  const style = (query.get('style') ?? 'image') as TileStyle;
  if (!TILE_STYLES.includes(style)) return bad('style', TILE_STYLES);
  const colour = (query.get('colour') ?? 'prediction') as OverlayColour;
  if (!Object.hasOwn(OVERLAY_COLOURS, colour)) return bad('colour', Object.keys(OVERLAY_COLOURS));
  const mode = query.get('overlay') ?? 'mask';
  if (!(OVERLAYS as readonly string[]).includes(mode)) return bad('overlay', OVERLAYS);
  if (mode === 'mask') return { style, overlay: { colour } };
  const truth = query.get('truth');
  if (!truth) return { status: 400, reason: 'overlay=agreement needs truth=PATH, the ground-truth mask to compare with' };
  if (style === 'image') return { status: 400, reason: 'overlay=agreement draws masks: style must be fill or outline' };
  // the query is decoded already; resolveInside decodes once more, so the path is encoded again
  const resolved = await resolveInside(root, truth.split('/').map(encodeURIComponent).join('/'));
  if (!resolved.ok) return { status: resolved.status, reason: `truth: ${resolved.reason}` };
  if (!(await stat(resolved.path)).isFile()) return { status: 404, reason: 'truth: not a file' };
  return { style, overlay: { truth: resolved.path } };
}

/** The answer to a failed request: a refused tile as refused, a file that vanished or may not be read, else our fault. */
function failure(error: unknown): { status: number; reason: string } {
  if (error instanceof TileRefused) return { status: error.status, reason: error.message };
  if (error instanceof TruthMismatch) return { status: 400, reason: `truth: ${error.message}` };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return { status: 404, reason: 'no such file' };
  if (code === 'EACCES' || code === 'EPERM') return { status: 403, reason: 'the file may not be read' };
  if (code === 'EMFILE' || code === 'ENFILE') return { status: 503, reason: 'too many open files; try again' };
  return { status: 500, reason: `internal error: ${error instanceof Error ? error.message : error}` };
}

function hostName(header: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(header);
  return bracketed ? bracketed[1] : header.replace(/:\d+$/, '');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
