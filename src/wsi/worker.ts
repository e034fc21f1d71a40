/**
 * Worker-thread entry of the slide loader: opens its own slides (OpenSlide
 * handles are per thread) and answers batch and statistics requests, with
 * the batch buffers transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorReply, type WorkerReply } from '../data/protocol.js';
import { SlideDataset, type SharedSlides } from './dataset.js';
import { SlidePipeline, type SlideBatchJob, type SlidePipelineConfig } from './pipeline.js';

export type SlideWorkerTask = { kind: 'batch'; job: SlideBatchJob } | { kind: 'sums'; indices: number[] };

export interface SlideWorkerInit {
  dataset: SharedSlides;
  config: SlidePipelineConfig;
}

if (parentPort) {
  const port = parentPort;
  const init = workerData as SlideWorkerInit;
  const pipeline = new SlidePipeline(SlideDataset.fromShared(init.dataset), init.config);
  port.on('message', (request: SlideWorkerTask & { id: number }) => {
    try {
      if (request.kind === 'batch') {
        const batch = pipeline.batch(request.job);
        port.postMessage({ id: request.id, ok: true, result: batch } satisfies WorkerReply, [batch.images.buffer as ArrayBuffer, batch.masks.buffer as ArrayBuffer]);
      } else {
        port.postMessage({ id: request.id, ok: true, result: pipeline.sums(request.indices) } satisfies WorkerReply);
      }
    } catch (error) {
      port.postMessage(errorReply(request.id, error));
    }
  });
}
