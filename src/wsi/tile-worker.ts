/**
 * Worker-thread entry of slide prediction: opens the slide itself (OpenSlide
 * handles are per thread) and answers each request with the planar input of
 * a batch of tiles, read (and resampled, on a grid at an mpp), normalised and
 * reflected as in the main thread (`readTiles`), its buffer transferred, not
 * copied: the resampling runs here, not on the thread that computes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChannelStats } from '../data/normalize.js';
import { errorReply, type WorkerReply } from '../data/protocol.js';
import { readTiles, type TileRect, type TileSource } from '../infer/tiling.js';
import { gridSource, type SlideGrid } from './patches.js';
import { Slide } from './slide.js';

export type TileWorkerTask = { kind: 'tiles'; tiles: TileRect[] };

export interface TileWorkerInit {
  path: string;
  grid: SlideGrid;
  region: { x: number; y: number; width: number; height: number };
  stats: ChannelStats | null;
  tile: number;
}

if (parentPort) {
  const port = parentPort;
  const init = workerData as TileWorkerInit;
  let source: TileSource | null = null;
  port.on('message', (request: TileWorkerTask & { id: number }) => {
    try {
      // opened on the first request, so that an unreadable slide is that request's error
      source ??= gridSource(Slide.open(init.path), init.grid, init.stats, init.region);
      const { input } = readTiles(source, request.tiles, init.tile);
      port.postMessage({ id: request.id, ok: true, result: input } satisfies WorkerReply, [input.buffer as ArrayBuffer]);
    } catch (error) {
      port.postMessage(errorReply(request.id, error));
    }
  });
}
