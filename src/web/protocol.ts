/** The messages between the page (app.ts) and its segmentation worker (worker.ts). */

/** What the page knows of the model: from the model card, with the tiling of `patho predict`. */
export interface RunSettings {
  /** input channels: 1 (gray) or 3 (RGB) */
  inChannels: number;
  classes: number;
  /** probability at and above which a pixel is foreground (one class) */
  threshold: number;
  tile: number;
  overlap: number;
  batchSize: number;
  /** WebAssembly threads; 0 lets ONNX Runtime choose */
  threads: number;
  /** 'auto' takes WebGPU where the browser has a GPU adapter */
  backend: 'auto' | 'wasm' | 'webgpu';
  /** the model's working resolution: tiles are shrunk this many times before it runs (1: as they are) */
  downsample: number;
}

export interface RunRequest {
  type: 'run';
  /** absolute URL of the ONNX model */
  model: string;
  /** absolute URL of the folder with onnxruntime-web's scripts and wasm files */
  runtime: string;
  image: Blob;
  settings: RunSettings;
}

export type WorkerMessage =
  | { type: 'status'; text: string }
  | { type: 'start'; width: number; height: number; tiles: number; backend: 'webgpu' | 'wasm'; threads: number; loadSeconds: number }
  | { type: 'progress'; done: number; total: number }
  /** finished image rows y0 .. y0 + rows - 1: labels, and the foreground probability as 0..255 */
  | { type: 'rows'; y0: number; rows: number; labels: Uint8Array; probability: Uint8Array }
  /** seconds from the first tile to the last row; engine seconds spent in the session's run alone */
  | { type: 'done'; tiles: number; seconds: number; engineSeconds: number; geojson: string }
  | { type: 'error'; message: string };
