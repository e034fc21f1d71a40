/**
 * The files the browser page needs besides its HTML and the model, found on
 * disk: the compiled modules of app.ts and its worker with everything they
 * import (read from the compiled files, so the list cannot drift from the
 * code), onnxruntime-web's scripts and wasm, and OpenSeadragon. `patho
 * serve` answers exactly these and `patho export --format web` copies them;
 * both use the same relative paths.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

/** onnxruntime-web's files the worker loads: the WebAssembly build, and the WebGPU build (which also runs WebAssembly). */
export const RUNTIME_FILES = [
  'ort.wasm.min.mjs',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort.webgpu.min.mjs',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
] as const;

export interface PageFiles {
  /** compiled modules by their path under the app folder (web/app.js, infer/tiling.js, ...) -> file on disk */
  app: Map<string, string>;
  /** onnxruntime-web's dist folder (holds RUNTIME_FILES) */
  runtime: string;
  /** OpenSeadragon's build folder (openseadragon.min.js and images/) */
  openseadragon: string;
}

/** The compiled sources: dist/src, two folders above this file's compiled form. */
const COMPILED = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRIES = ['web/app.js', 'web/worker.js'];

let found: Promise<PageFiles> | null = null;

/** Finds the page's files once per process. */
export function pageFiles(): Promise<PageFiles> {
  found ??= (async () => {
    const require = createRequire(import.meta.url);
    return {
      app: await moduleClosure(COMPILED, ENTRIES),
      runtime: dirname(require.resolve('onnxruntime-web')),
      openseadragon: dirname(require.resolve('openseadragon')),
    };
  })().catch((error: unknown) => {
    found = null;
    throw error;
  });
  return found;
}

/**
 * `entries` and every module they import, relative to `root`. Only relative
 * imports are allowed: a browser cannot resolve a package name or a node:
 * module, and a page that imported one would fail only when opened.
 */
export async function moduleClosure(root: string, entries: string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (files.has(path)) continue;
    const file = join(root, ...path.split('/'));
    let code: string;
    try {
      code = await readFile(file, 'utf8');
    } catch {
      throw new Error(`the browser page needs ${file}; build the TypeScript first (npm run build:ts)`);
    }
    files.set(path, file);
    for (const [, from, bare] of code.matchAll(/(?:^|[;\n])\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) {
      const specifier = from ?? bare;
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
        throw new Error(`${path} imports '${specifier}', which a browser cannot load; the page may import only relative modules`);
      }
      pending.push(posix.normalize(posix.join(posix.dirname(path), specifier)));
    }
  }
  return files;
}
