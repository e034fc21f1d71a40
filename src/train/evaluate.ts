/**
 * Running a network over a loader and scoring it: Dice, IoU, precision and
 * recall at several thresholds, per image and averaged.
 */
import { batchToTensors } from '../data/tensors.js';
import type { HostBatch } from '../data/types.js';
import { BinaryMetricAccumulator, DEFAULT_THRESHOLDS, type BinaryScores } from '../metrics/index.js';
import { ThresholdSweep, type SweepResult } from '../metrics/sweep.js';
import { noGrad, autocast } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor, type Device, type DType } from '../tensor/tensor.js';
import type { Loss } from '../losses/index.js';

/** A network as the trainer sees it. */
export interface SegmentationNet {
  forward(x: Tensor): Tensor;
  probabilities(logits: Tensor): Tensor;
  train(mode?: boolean): unknown;
  readonly training: boolean;
}

export interface EvaluationReport {
  images: number;
  /** Mean validation loss per image (when a loss was given). */
  loss?: number;
  /** Mean over images per threshold ("0.5" -> scores). */
  thresholds: Record<string, Pick<BinaryScores, 'dice' | 'iou' | 'precision' | 'recall' | 'accuracy'>>;
  /**
   * The same for the background class (probability below the threshold vs
   * mask 0): for membrane data, where the mask marks cell interiors, this is
   * the membrane score.
   */
  background: Record<string, Pick<BinaryScores, 'dice' | 'iou'>>;
  perImage: { name: string; scores: Record<string, { dice: number; iou: number; precision: number; recall: number }> }[];
  sweep?: SweepResult;
}

export interface EvaluateOptions {
  thresholds?: readonly number[];
  device?: Device;
  amp?: DType | null;
  loss?: Loss;
  sweep?: boolean;
  /** Sums the metric counts over processes (data-parallel validation); identity by default. */
  reduce?: (counts: Float64Array) => Float64Array;
}

/** Scores a binary network on every batch of `batches` (whole images, evaluation mode). */
export async function evaluateBinary(
  net: SegmentationNet,
  batches: AsyncIterable<HostBatch>,
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
  const device = options.device ?? 'cpu';
  const foreground = new BinaryMetricAccumulator(thresholds);
  const background = new BinaryMetricAccumulator(thresholds.map((t) => 1 - t));
  const sweep = options.sweep ? new ThresholdSweep() : null;
  const perImage: EvaluationReport['perImage'] = [];
  let lossSum = 0;
  const wasTraining = net.training;
  net.train(false);
  try {
    for await (const batch of batches) {
      const n = batch.shape[0];
      const { probabilities, loss } = noGrad(() =>
        tidy(() => {
          const { images, masks } = batchToTensors(batch, { device });
          const run = () => net.forward(images);
          const logits = (options.amp ? autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', options.amp, run) : run()).to('float32');
          const l = options.loss ? options.loss(logits, masks).item() : 0;
          return { probabilities: net.probabilities(logits).toFloat32Array(), loss: l };
        }),
      );
      lossSum += loss * n;
      const binaryMasks = batch.masks.map((v) => (v > 0 ? 1 : 0));
      const scores = foreground.add(probabilities, binaryMasks, n);
      background.add(probabilities.map((p) => 1 - p), binaryMasks.map((v) => 1 - v), n);
      sweep?.add(probabilities, binaryMasks, n);
      scores.forEach((row, i) => {
        const entry: EvaluationReport['perImage'][number] = { name: batch.names[i], scores: {} };
        row.forEach((s, t) => (entry.scores[String(thresholds[t])] = { dice: s.dice, iou: s.iou, precision: s.precision, recall: s.recall }));
        perImage.push(entry);
      });
    }
  } finally {
    net.train(wasTraining);
  }
  let [fg, bg, losses] = [foreground, background, lossSum];
  if (options.reduce) {
    fg = new BinaryMetricAccumulator(thresholds, options.reduce(foreground.counts()));
    bg = new BinaryMetricAccumulator(thresholds.map((t) => 1 - t), options.reduce(background.counts()));
    losses = options.reduce(new Float64Array([lossSum]))[0];
  }
  const report: EvaluationReport = { images: fg.images, thresholds: {}, background: {}, perImage };
  if (options.loss) report.loss = losses / Math.max(1, fg.images);
  fg.result().byThreshold.forEach((m, i) => {
    const { dice, iou, precision, recall, accuracy } = m.mean;
    report.thresholds[String(thresholds[i])] = { dice, iou, precision, recall, accuracy };
  });
  bg.result().byThreshold.forEach((m, i) => {
    report.background[String(thresholds[i])] = { dice: m.mean.dice, iou: m.mean.iou };
  });
  if (sweep) report.sweep = sweep.result();
  return report;
}
