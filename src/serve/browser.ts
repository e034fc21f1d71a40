/**
 * The routes of `patho serve` for running a run's model in the browser
 * (src/web/): the list of models, the page for one, its ONNX, and the
 * page's scripts and wasm from dist/ and node_modules. Every response is
 * cross-origin isolated (COOP + COEP), which is what lets WebAssembly use
 * threads.
 *
 *   GET /browser/models              the checkpoints (*.pt) under the folder (JSON)
 *   GET /browser/run/PATH            the page for the checkpoint PATH
 *   GET /browser/onnx/PATH           the checkpoint's ONNX export (made when first asked for)
 *   GET /browser/app/MODULE          a compiled module of the page (web/app.js, ...)
 *   GET /browser/runtime/FILE        onnxruntime-web
 */
import { readdir, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, posix } from 'node:path';
import { RUNTIME_FILES, pageFiles } from '../web/files.js';
import { cachedWebModel, type WebModel } from '../web/model.js';
import { browserPage } from '../web/page.js';
import { resolveInside } from './paths.js';
import { send as sendPlain, sendFile as sendPlainFile, TYPES as SERVER_TYPES } from './respond.js';

const TYPES: Record<string, string> = {
  ...SERVER_TYPES,
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

const ISOLATED = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** Answers a request for /browser/`rest`; `root` is the real path of the served folder. */
export async function handleBrowser(response: ServerResponse, root: string, rest: string): Promise<void> {
  const [route, ...tail] = rest.split('/');
  const path = tail.join('/');
  if (route === 'models' && path === '') return send(response, 200, TYPES['.json'], JSON.stringify(await checkpoints(root)));
  if (route === 'app') {
    const file = (await pageFiles()).app.get(path);
    return file ? sendFile(response, file) : send(response, 404, 'text/plain; charset=utf-8', 'not a module of the page\n');
  }
  if (route === 'runtime') {
    if (!(RUNTIME_FILES as readonly string[]).includes(path)) return send(response, 404, 'text/plain; charset=utf-8', 'not a runtime file\n');
    return sendFile(response, join((await pageFiles()).runtime, path));
  }
  if (route !== 'run' && route !== 'onnx') return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');

  const resolved = await resolveInside(root, path);
  if (!resolved.ok) return send(response, resolved.status, 'text/plain; charset=utf-8', `${resolved.reason}\n`);
  if (extname(resolved.path) !== '.pt' || !(await stat(resolved.path)).isFile()) {
    return send(response, 404, 'text/plain; charset=utf-8', 'not a checkpoint (.pt)\n');
  }
  let model: WebModel;
  try {
    model = await cachedWebModel(resolved.path);
  } catch (error) {
    return send(response, 422, 'text/plain; charset=utf-8', `${error instanceof Error ? error.message : error}\n`);
  }
  if (route === 'onnx') return send(response, 200, TYPES['.onnx'], model.onnx);
  const page = browserPage(model.card, model.settings, {
    model: `/browser/onnx/${path}`,
    app: '/browser/app/',
    runtime: '/browser/runtime/',
    openseadragon: '/vendor/openseadragon/',
  });
  return send(response, 200, TYPES['.html'], page);
}

/** Checkpoints (*.pt) under `root`, as paths relative to it, looking a few folders deep. */
async function checkpoints(root: string, maxDepth = 3): Promise<{ path: string; name: string }[]> {
  const found: { path: string; name: string }[] = [];
  const visit = async (folder: string, depth: number): Promise<void> => {
    for (const entry of await readdir(join(root, folder), { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const relative = folder ? posix.join(folder, entry.name) : entry.name;
      if (entry.isDirectory() && depth < maxDepth) await visit(relative, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.pt')) found.push({ path: relative, name: entry.name });
    }
  };
  await visit('', 0);
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

function sendFile(response: ServerResponse, file: string): Promise<void> {
  return sendPlainFile(response, file, { types: TYPES, headers: { ...ISOLATED, 'Cache-Control': 'no-cache' } });
}

function send(response: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  sendPlain(response, status, type, body, ISOLATED);
}
