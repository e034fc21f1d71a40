/**
 * `patho export --format web`: the browser page as a self-contained folder
 * that any static host (or `python3 -m http.server` on a USB stick's
 * folder) serves: index.html with the model card, the ONNX model, the page's
 * modules, onnxruntime-web and OpenSeadragon. Module workers do not run from
 * file:// URLs, so the folder is served, not double-clicked.
 */
import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import type { OnnxExportOptions } from '../export/onnx.js';
import { dirname, join } from 'node:path';
import { pageFiles, RUNTIME_FILES } from './files.js';
import { webModel } from './model.js';
import { browserPage } from './page.js';

/**
 * Headers for hosts that read a `_headers` file (Netlify, Cloudflare Pages):
 * cross-origin isolation lets WebAssembly use threads; elsewhere it runs on one.
 */
const HEADERS = `/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
`;

/**
 * Writes the site for `checkpoint` into `outDir` (its ONNX export made with
 * `options`); returns the files written, relative to `outDir`.
 */
export async function writeWebSite(checkpoint: string, outDir: string, options: OnnxExportOptions = {}): Promise<string[]> {
  const { card, settings, onnx } = await webModel(checkpoint, options);
  const files = await pageFiles();
  const written: string[] = [];
  const put = async (relative: string, from: string) => {
    const to = join(outDir, ...relative.split('/'));
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
    written.push(relative);
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'model.onnx'), onnx);
  written.push('model.onnx');
  for (const [relative, file] of files.app) await put(`app/${relative}`, file);
  for (const name of RUNTIME_FILES) await put(`ort/${name}`, join(files.runtime, name));
  await put('openseadragon/openseadragon.min.js', join(files.openseadragon, 'openseadragon.min.js'));
  await cp(join(files.openseadragon, 'images'), join(outDir, 'openseadragon', 'images'), { recursive: true });
  written.push('openseadragon/images/');
  await writeFile(join(outDir, '_headers'), HEADERS);
  await writeFile(join(outDir, 'index.html'), browserPage(card, settings, { model: 'model.onnx', app: 'app/', runtime: 'ort/', openseadragon: 'openseadragon/' }));
  written.push('_headers', 'index.html');
  return written;
}
