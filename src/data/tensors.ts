/** Host batches (typed arrays from the loader) to tensors on the training device. */
import { tensor } from '../tensor/create.js';
import { Tensor, type Device, type MemoryFormat } from '../tensor/tensor.js';
import type { HostBatch } from './types.js';

export interface BatchTensors {
  /** [N, C, H, W] float32 */
  images: Tensor;
  /** binary: [N, 1, H, W] float32 in {0, 1}; several classes: [N, H, W] int64 */
  masks: Tensor;
}

/**
 * Copies a batch to `device`. Masks become float {0,1} for one class (the
 * binary losses' target) or int64 indices for several (cross-entropy's).
 */
export function batchToTensors(
  batch: HostBatch,
  options: { device?: Device; classes?: number; memoryFormat?: MemoryFormat } = {},
): BatchTensors {
  const [n, c, h, w] = batch.shape;
  const device = options.device ?? 'cpu';
  const pinned = device.startsWith('cuda');
  const images = upload(tensor(batch.images, [n, c, h, w]), device, pinned, options.memoryFormat);
  const masks =
    (options.classes ?? 1) === 1
      ? upload(tensor(batch.masks, [n, 1, h, w], { dtype: 'float32' }), device, pinned)
      : upload(tensor(batch.masks, [n, h, w], { dtype: 'int64' }), device, pinned);
  return { images, masks };
}

/** Moves a host tensor to the device through pinned memory so the copy can overlap compute. */
function upload(host: Tensor, device: Device, pinned: boolean, format?: MemoryFormat): Tensor {
  let t = host;
  if (pinned) {
    const p = t.pinMemory();
    t.dispose();
    const moved = p.to({ device, nonBlocking: true });
    p.dispose();
    t = moved;
  }
  if (format === 'channelsLast') {
    const relaid = t.contiguous('channelsLast');
    t.dispose();
    t = relaid;
  }
  return t;
}
