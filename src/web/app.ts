/**
 * The script of the browser page (page.ts): takes a dropped or chosen image,
 * shows it in OpenSeadragon, has the worker segment it, fills the progress
 * bar, lays the mask over the image (opacity slider) and offers the mask PNG,
 * the probabilities PNG and the GeoJSON polygons for download. The page says
 * which engine ran (WebGPU or WebAssembly) and how long it took. Given the
 * image's ground-truth mask (a one-class model), it shows the agreement
 * instead: agreement, misses and false alarms in the palette's colours.
 */
import { CLASS_COLOURS, COMPARISON_COLOURS, compareMasks, paintLabels, type Rgb } from '../report/palette.js';
import { grayPng } from './png.js';
import type { PageConfig } from './page.js';
import type { RunRequest, WorkerMessage } from './protocol.js';

/** The few OpenSeadragon calls the page makes. */
interface Viewer {
  open(source: object): void;
  addTiledImage(options: object): void;
  world: { getItemAt(index: number): { setOpacity(opacity: number): void } | undefined; getItemCount(): number };
}
declare const OpenSeadragon: (options: object) => Viewer;

/** What the page shows when a run ends, for the user (status line) and for scripts (`window.pathoResult`). */
export interface RunResult {
  backend: 'webgpu' | 'wasm';
  threads: number;
  width: number;
  height: number;
  tiles: number;
  seconds: number;
  engineSeconds: number;
  loadSeconds: number;
}

const config = JSON.parse(document.getElementById('patho-config')!.textContent!) as PageConfig;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLElement>('status');
const progress = $<HTMLProgressElement>('progress');
const opacity = $<HTMLInputElement>('opacity');
const absolute = (url: string) => new URL(url, location.href).href;

const viewer = OpenSeadragon({
  id: 'view',
  prefixUrl: `${config.urls.openseadragon}images/`,
  drawer: 'canvas',
  showNavigator: true,
  maxZoomPixelRatio: 8,
  imageSmoothingEnabled: false,
  gestureSettingsMouse: { clickToZoom: false },
});
const shownOpacity = () => Number(opacity.value) / 100;
opacity.addEventListener('input', () => viewer.world.getItemAt(1)?.setOpacity(shownOpacity()));

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let busy = false;
let urls: string[] = [];
/** A mask the size of its image: a run's labels, or a ground truth's (0 background). */
interface Mask {
  labels: Uint8Array;
  width: number;
  height: number;
}
/** The last finished run's labels, and the ground truth chosen for its image. */
let segmented: Mask | null = null;
let truth: Mask | null = null;
/** Images chosen so far: a ground truth decoded after the next image was chosen is not that image's. */
let images = 0;
const truthInput = $<HTMLInputElement>('truth');
const truthNote = $<HTMLElement>('truth-note');

function segment(file: File): void {
  if (busy) return;
  busy = true;
  for (const url of urls) URL.revokeObjectURL(url);
  urls = [URL.createObjectURL(file)];
  // a ground truth belongs to one image: the next one is chosen for this image
  images++;
  segmented = null;
  truth = null;
  truthInput.value = '';
  truthInput.disabled = false;
  truthNote.textContent = '';
  $<HTMLElement>('legend').hidden = true;
  document.body.dataset.state = 'running';
  $<HTMLElement>('downloads').hidden = true;
  progress.value = 0;
  viewer.open({ type: 'image', url: urls[0], buildPyramid: true });
  const name = file.name.replace(/\.[^.]*$/, '') || config.name;
  let size = { width: 0, height: 0 };
  let labels = new Uint8Array(0);
  let probability = new Uint8Array(0);
  let start: Extract<WorkerMessage, { type: 'start' }> | null = null;

  worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
    const message = event.data;
    // after an error, the model may still be loading for the next file: its news is not this run's
    if (!busy) return;
    switch (message.type) {
      case 'status':
        status.textContent = message.text;
        break;
      case 'start':
        start = message;
        size = { width: message.width, height: message.height };
        labels = new Uint8Array(size.width * size.height);
        probability = new Uint8Array(size.width * size.height);
        status.textContent = `segmenting ${size.width}x${size.height} in ${message.tiles} tiles with ${engineName(message.backend, message.threads)}`;
        break;
      case 'progress':
        progress.max = message.total;
        progress.value = message.done;
        break;
      case 'rows':
        labels.set(message.labels, message.y0 * size.width);
        probability.set(message.probability, message.y0 * size.width);
        break;
      case 'done':
        void finish(name, size, labels, probability, message.geojson, {
          backend: start!.backend,
          threads: start!.threads,
          ...size,
          tiles: message.tiles,
          seconds: message.seconds,
          engineSeconds: message.engineSeconds,
          loadSeconds: start!.loadSeconds,
        });
        break;
      case 'error':
        status.textContent = `error: ${message.message}`;
        document.body.dataset.state = 'error';
        busy = false;
        break;
    }
  };
  const request: RunRequest = {
    type: 'run',
    model: absolute(config.urls.model),
    runtime: absolute(config.urls.runtime),
    image: file,
    settings: { ...config.settings, ...overrides() },
  };
  worker.postMessage(request);
}

/** ?backend=wasm|webgpu and ?threads=N, for comparing engines on one machine. */
function overrides(): Partial<PageConfig['settings']> {
  const query = new URLSearchParams(location.search);
  const out: Partial<PageConfig['settings']> = {};
  const backend = query.get('backend');
  if (backend === 'wasm' || backend === 'webgpu') out.backend = backend;
  const threads = Number(query.get('threads'));
  if (Number.isInteger(threads) && threads > 0) out.threads = threads;
  return out;
}

function engineName(backend: 'webgpu' | 'wasm', threads: number): string {
  return backend === 'webgpu' ? 'WebGPU' : `WebAssembly (${threads} thread${threads === 1 ? '' : 's'})`;
}

async function finish(
  name: string, size: { width: number; height: number }, labels: Uint8Array, probability: Uint8Array, geojson: string, result: RunResult,
): Promise<void> {
  const binary = config.settings.classes === 1;
  const maskPixels = binary ? labels.map((v) => (v ? 255 : 0)) : labels;
  const link = (id: string, blob: Blob, file: string) => {
    const url = URL.createObjectURL(blob);
    urls.push(url);
    const a = $<HTMLAnchorElement>(id);
    a.href = url;
    a.download = file;
  };
  link('download-mask', await grayPng(maskPixels, size.width, size.height), `${name}_mask.png`);
  link('download-prob', await grayPng(probability, size.width, size.height), `${name}_prob.png`);
  link('download-geojson', new Blob([geojson], { type: 'application/geo+json' }), `${name}.geojson`);
  segmented = { labels, ...size };
  await showOverlay();
  $<HTMLElement>('downloads').hidden = false;
  const perTile = result.seconds / Math.max(1, result.tiles);
  status.textContent =
    `${engineName(result.backend, result.threads)}: ${result.tiles} tile${result.tiles === 1 ? '' : 's'} ` +
    `(${size.width}x${size.height}) in ${result.seconds.toFixed(2)} s, ${perTile.toFixed(3)} s per tile; model loaded in ${result.loadSeconds.toFixed(2)} s`;
  (window as Window & { pathoResult?: RunResult }).pathoResult = result;
  document.body.dataset.state = 'done';
  busy = false;
}

/**
 * Lays the last run's labels over the image: compared with the ground truth
 * where one of the image's size is given, else in the palette's class colours.
 */
async function showOverlay(): Promise<void> {
  if (!segmented) return;
  const { labels, width, height } = segmented;
  const compared = truth !== null && truth.width === width && truth.height === height;
  if (truth && !compared) truthNote.textContent = `the ground truth is ${truth.width}x${truth.height}, the image ${width}x${height}: not compared`;
  $<HTMLElement>('legend').hidden = !compared;
  const overlay = compared ? await overlayPng(compareMasks(truth!.labels, labels), COMPARISON_COLOURS, width, height) : await overlayPng(labels, CLASS_COLOURS, width, height);
  urls.push(overlay);
  viewer.addTiledImage({ tileSource: { type: 'image', url: overlay, buildPyramid: true }, opacity: shownOpacity(), x: 0, y: 0, width: 1, index: 1, replace: viewer.world.getItemCount() > 1 });
}

/** The labels painted in `colours` (see `paintLabels`), transparent elsewhere, as a PNG object URL. */
async function overlayPng(labels: Uint8Array, colours: readonly Rgb[], width: number, height: number): Promise<string> {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d')!;
  const image = context.createImageData(width, height);
  paintLabels(labels, colours, image.data);
  context.putImageData(image, 0, 0);
  const blob = await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode the overlay'))), 'image/png'));
  return URL.createObjectURL(blob);
}

/**
 * A ground-truth mask file: any pixel that is not black is foreground, so a
 * mask drawn in colour (a pure green or blue label) counts as well as a gray
 * one. (`patho serve` reads the file as gray: there, the darkest colours
 * round to 0 too.)
 */
async function readTruth(file: File): Promise<Mask> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const labels = new Uint8Array(width * height);
  for (let i = 0; i < labels.length; i++) labels[i] = rgba[4 * i] | rgba[4 * i + 1] | rgba[4 * i + 2] ? 1 : 0;
  return { labels, width, height };
}

truthInput.addEventListener('change', () => {
  const file = truthInput.files?.[0];
  if (!file) return;
  truthNote.textContent = '';
  const image = images;
  readTruth(file)
    .then((mask) => {
      if (image !== images) return;
      truth = mask;
      // shown now if the run is over, else when it ends
      return showOverlay();
    })
    .catch((error: unknown) => {
      truthNote.textContent = `cannot show ${file.name} as a ground truth: ${error instanceof Error ? error.message : error}`;
    });
});

$<HTMLInputElement>('file').addEventListener('change', (event) => {
  const input = event.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file) segment(file);
  // emptied, so that choosing the same file again runs again
  input.value = '';
});
document.body.addEventListener('dragover', (event) => {
  event.preventDefault();
  document.body.classList.add('dragging');
});
document.body.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.body.addEventListener('drop', (event) => {
  event.preventDefault();
  document.body.classList.remove('dragging');
  const file = event.dataTransfer?.files[0];
  if (file) segment(file);
});
worker.onerror = (event) => {
  status.textContent = `error: the worker failed to start (${event.message})`;
  document.body.dataset.state = 'error';
};
