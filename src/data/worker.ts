/**
 * Worker-thread entry of the data loader: rebuilds the data set from shared
 * memory and answers batch and statistics requests. Replies carry the batch
 * buffers as transfers, so nothing is copied back to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SegmentationDataset, type SharedDataset } from './dataset.js';
import { ImageDecodeError } from './decode.js';
import { SamplePipeline, type BatchJob, type PipelineConfig } from './pipeline.js';

/** Work for a worker: build a batch, or sum channels for the normalisation statistics. */
export type WorkerTask = { kind: 'batch'; job: BatchJob } | { kind: 'sums'; indices: number[] };

/** A task as sent, with the id its reply carries. */
export type WorkerRequest = WorkerTask & { id: number };

/**
 * A reply: the result, or the error message (which names the file); an
 * unreadable image is sent as such, so that the main thread throws the same
 * ImageDecodeError as without workers.
 */
export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string; decode?: { file: string; reason: string } };

/** What the loader passes as workerData. */
export interface WorkerInit {
  dataset: SharedDataset;
  config: PipelineConfig;
}

if (parentPort) {
  const port = parentPort;
  const init = workerData as WorkerInit;
  const pipeline = new SamplePipeline(SegmentationDataset.fromShared(init.dataset), init.config);
  port.on('message', async (request: WorkerRequest) => {
    try {
      if (request.kind === 'batch') {
        const batch = await pipeline.batch(request.job);
        port.postMessage({ id: request.id, ok: true, result: batch } satisfies WorkerReply, [batch.images.buffer as ArrayBuffer, batch.masks.buffer as ArrayBuffer]);
      } else {
        port.postMessage({ id: request.id, ok: true, result: await pipeline.sums(request.indices) } satisfies WorkerReply);
      }
    } catch (error) {
      const decode = error instanceof ImageDecodeError ? { file: error.file, reason: error.reason } : undefined;
      port.postMessage({ id: request.id, ok: false, error: (error as Error).message, decode } satisfies WorkerReply);
    }
  });
}
