/**
 * The segmentation worker of the browser page: loads onnxruntime-web and the
 * exported model, reads the image tile by tile, and runs the tiling and
 * Gaussian blending of `patho predict` (src/infer/tiling.ts) with an ONNX
 * Runtime session as the engine. Working off the page's thread keeps the page
 * responsive; reading one tile at a time from the decoded bitmap and handing
 * finished rows on keeps memory to the bitmap, a tile batch and a band of
 * rows, never a whole-image tensor.
 */
import type * as Ort from 'onnxruntime-web';
import { atWorkingResolution } from '../data/scale.js';
import { labelsFrom, probabilityBytes } from '../infer/labels.js';
import { blendTiles, tileCount, type TileSource } from '../infer/tiling.js';
import { maskToGeoJson } from '../wsi/geojson.js';
import type { RunRequest, RunSettings, WorkerMessage } from './protocol.js';

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<RunRequest>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (message: WorkerMessage, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

interface Engine {
  session: Ort.InferenceSession;
  ort: typeof Ort;
  backend: 'webgpu' | 'wasm';
  threads: number;
  loadSeconds: number;
}
/** The session of the last model, kept for the next image. */
let engine: { key: string; ready: Promise<Engine> } | null = null;

scope.onmessage = (event) => {
  run(event.data).catch((error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
};

async function run(request: RunRequest): Promise<void> {
  const { settings } = request;
  const key = `${request.model} ${settings.backend} ${settings.threads}`;
  if (engine?.key !== key) engine = { key, ready: loadEngine(request.model, request.runtime, settings) };
  const loading = engine.ready.catch((error: unknown) => {
    engine = null;
    throw error;
  });
  // a file the browser cannot decode is reported without waiting for the model (which goes on loading for the next file)
  loading.catch(() => undefined);
  const source = await bitmapSource(request.image, settings.inChannels);
  const { session, ort, backend, threads, loadSeconds } = await loading;
  const { width, height } = source;
  const { classes, tile, overlap, batchSize, threshold } = settings;
  const tiles = tileCount(width, height, { tile, overlap });
  post({ type: 'start', width, height, tiles, backend, threads, loadSeconds });

  const labels = new Uint8Array(width * height);
  const started = performance.now();
  let engineMs = 0;
  const steps = blendTiles(source, classes, {
    tile,
    overlap,
    batchSize,
    blend: 'gaussian',
    onProgress: (done, total) => post({ type: 'progress', done, total }),
    onRows(y0, rows, probabilities) {
      const band = { width, height: rows, classes, data: probabilities };
      const bandLabels = labelsFrom(band, threshold);
      labels.set(bandLabels, y0 * width);
      const probability = probabilityBytes(band);
      post({ type: 'rows', y0, rows, labels: bandLabels, probability }, [bandLabels.buffer, probability.buffer]);
    },
  });
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  // a model trained at a working resolution sees each tile shrunk, as `patho predict` feeds it (data/scale.ts)
  const runTiles = atWorkingResolution(async (data: Float32Array, shape: [number, number, number, number]) => {
    const input = new ort.Tensor('float32', data, shape);
    const results = await session.run({ [inputName]: input });
    const output = results[outputName];
    // a GPU-resident output is read back here; either way the values are copied before the tensor is released
    const probabilities = new Float32Array((await output.getData()) as Float32Array);
    output.dispose();
    return probabilities;
  }, classes, settings.downsample);
  for (let step = steps.next(); !step.done; ) {
    const t0 = performance.now();
    const probabilities = await runTiles(step.value.input, step.value.shape);
    engineMs += performance.now() - t0;
    step = steps.next(probabilities);
  }
  const seconds = (performance.now() - started) / 1000;
  post({ type: 'status', text: 'tracing polygons' });
  const geojson = JSON.stringify(maskToGeoJson(labels, width, height));
  post({ type: 'done', tiles, seconds, engineSeconds: engineMs / 1000, geojson });
}

/** onnxruntime-web with WebGPU where the browser offers a GPU adapter (and `backend` allows it), else WebAssembly. */
async function loadEngine(model: string, runtime: string, settings: RunSettings): Promise<Engine> {
  const t0 = performance.now();
  const gpu = settings.backend !== 'wasm' && (await hasWebGpu());
  if (settings.backend === 'webgpu' && !gpu) throw new Error('this browser offers no WebGPU adapter');
  post({ type: 'status', text: `loading ONNX Runtime (${gpu ? 'WebGPU' : 'WebAssembly'})` });
  // the WebGPU build also runs WebAssembly, but the plain WebAssembly build is smaller and faster on CPUs
  const ort = (await import(`${runtime}${gpu ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs'}`)) as typeof Ort;
  ort.env.wasm.wasmPaths = runtime;
  if (settings.threads > 0) ort.env.wasm.numThreads = settings.threads;
  post({ type: 'status', text: 'loading the model' });
  const response = await fetch(model);
  if (!response.ok) throw new Error(`cannot load the model ${model}: ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [gpu ? 'webgpu' : 'wasm'],
    graphOptimizationLevel: 'all',
  });
  // without cross-origin isolation (a plain static host) WebAssembly runs on one thread
  const threads = gpu ? 0 : crossOriginIsolated ? (ort.env.wasm.numThreads ?? 1) : 1;
  return { session, ort, backend: gpu ? 'webgpu' : 'wasm', threads, loadSeconds: (performance.now() - t0) / 1000 };
}

async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * The image as a tile source of 0..255 values, which the exported model
 * normalises itself. Only the decoded bitmap is held; each read draws one
 * region into a canvas of that size. Pixels are taken as stored, without
 * colour management, as `patho predict` reads them.
 */
async function bitmapSource(image: Blob, channels: number): Promise<TileSource> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`this browser cannot decode ${image.type || 'this file'}; PNG and JPEG work in every browser (TIFF in Safari only)`);
  }
  let canvas = new OffscreenCanvas(1, 1);
  let context = canvas.getContext('2d', { willReadFrequently: true })!;
  return {
    width: bitmap.width,
    height: bitmap.height,
    channels,
    read(x, y, w, h) {
      if (canvas.width !== w || canvas.height !== h) {
        canvas = new OffscreenCanvas(w, h);
        context = canvas.getContext('2d', { willReadFrequently: true })!;
      }
      context.clearRect(0, 0, w, h);
      context.drawImage(bitmap, x, y, w, h, 0, 0, w, h);
      const rgba = context.getImageData(0, 0, w, h).data;
      const plane = w * h;
      const out = new Float32Array(channels * plane);
      for (let i = 0; i < plane; i++) {
        const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
        if (channels === 1) {
          if (r !== g || g !== b) throw new Error('the model expects gray images, this one is in colour');
          out[i] = r;
        } else {
          out[i] = r;
          out[plane + i] = g;
          out[2 * plane + i] = b;
        }
      }
      return out;
    },
  };
}
