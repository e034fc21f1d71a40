/**
 * Worker-thread entry of the data loader: rebuilds the data set from shared
 * memory and answers batch and statistics requests. Replies carry the batch
 * buffers as transfers, so nothing is copied back to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SegmentationDataset, type SharedDataset } from './dataset.js';
import { errorReply, type WorkerReply } from './protocol.js';
import { SamplePipeline, type BatchJob, type PipelineConfig } from './pipeline.js';

/** Work for a worker: build a batch, or sum channels for the normalisation statistics. */
export type WorkerTask = { kind: 'batch'; job: BatchJob } | { kind: 'sums'; indices: number[] };

/** A task as sent, with the id its reply carries. */
type WorkerRequest = WorkerTask & { id: number };

export type { WorkerReply } from './protocol.js';

/** What the loader passes as workerData. */
interface WorkerInit {
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
      port.postMessage(errorReply(request.id, error));
    }
  });
}
