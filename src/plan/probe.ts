/**
 * The planner's measurement: the training step of `patho train` itself
 * (`Model.trainStep`: forward, loss, backward, optimizer step, under the same
 * autocast and memory format) timed on a synthetic batch of the planned shape.
 * One warm-up step (allocator, oneDNN primitive creation, cuDNN autotuning),
 * then the median of a few timed steps.
 */
import type { HostBatch } from '../data/types.js';
import { UNet } from '../models/unet.js';
import { cuda, manualSeed } from '../tensor/runtime.js';
import { Model } from '../train/model.js';
import type { MeasureStep, StepCandidate, StepMeasurement } from './planner.js';

export interface ProbeOptions {
  device: string;
  /** image channels and network outputs of the data planned for */
  channels: number;
  classes: number;
  /** timed steps after the warm-up; default 2 */
  steps?: number;
  /** the clock, in milliseconds; default performance.now */
  now?: () => number;
}

/** A `MeasureStep` that times real training steps on `device`. */
export function stepProbe(options: ProbeOptions): MeasureStep {
  return async (candidate) => timeTrainingStep(candidate, options);
}

/** Times `Model.trainStep` for one candidate; frees every tensor it made. */
export async function timeTrainingStep(c: StepCandidate, options: ProbeOptions): Promise<StepMeasurement> {
  const now = options.now ?? (() => performance.now());
  const began = now();
  manualSeed(0);
  const net = new UNet({ inChannels: options.channels, classes: options.classes, depth: c.depth, baseChannels: c.baseChannels });
  const model = new Model(net, {
    optimizer: 'adam',
    lr: 1e-3,
    device: options.device,
    amp: c.amp ? 'bfloat16' : null,
    memoryFormat: c.channelsLast ? 'channelsLast' : 'contiguous',
  });
  try {
    const batch = syntheticBatch(c, options.channels);
    const sync = () => (options.device.startsWith('cuda') ? cuda.synchronize(options.device) : undefined);
    model.trainStep(batch);
    sync();
    const times: number[] = [];
    for (let i = 0; i < (options.steps ?? 2); i++) {
      const start = now();
      model.trainStep(batch);
      sync();
      times.push((now() - start) / 1000);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor((times.length - 1) / 2)];
    return { secondsPerImage: median / c.batchSize, seconds: (now() - began) / 1000 };
  } finally {
    model.dispose();
  }
}

/** Uniform noise images and a half-foreground mask: step time depends on shapes, not values. */
function syntheticBatch(c: StepCandidate, channels: number): HostBatch {
  const pixels = c.patch * c.patch;
  const images = new Float32Array(c.batchSize * channels * pixels);
  let seed = 1;
  for (let i = 0; i < images.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    images[i] = seed / 2 ** 32 - 0.5;
  }
  const masks = new Uint8Array(c.batchSize * pixels);
  for (let i = 0; i < masks.length; i++) masks[i] = (i % c.patch) < c.patch / 2 ? 1 : 0;
  return { names: Array.from({ length: c.batchSize }, (_, i) => `probe${i}`), images, masks, shape: [c.batchSize, channels, c.patch, c.patch] };
}
