/**
 * Running a network over a loader and scoring it: Dice, IoU, precision and
 * recall at several thresholds, per image and averaged.
 */
import { decodeImageFile } from '../data/decode.js';
import { IGNORE_LABEL } from '../data/ignore.js';
import type { DataLoader } from '../data/loader.js';
import { instanceLabels, toLabelMask } from '../data/masks.js';
import { downsampleBatch, upsamplePlanar } from '../data/scale.js';
import { batchToTensors } from '../data/tensors.js';
import type { HostBatch } from '../data/types.js';
import { BinaryMetricAccumulator, DEFAULT_THRESHOLDS, MulticlassMetricAccumulator, type BinaryScores } from '../metrics/index.js';
import { ThresholdSweep, type SweepResult } from '../metrics/sweep.js';
import { BoundaryErrorAccumulator, type BoundaryErrors } from '../metrics/boundary.js';
import { GlasMetricAccumulator, type GlasReport } from '../metrics/objects.js';
import { IsbiMetricAccumulator, type IsbiReport } from '../metrics/rand.js';
import { objectMetricKind, type ObjectMetricKind } from '../metrics/structures.js';
import { postProcessProbabilities, type PostProcessing } from '../infer/postprocess.js';
import { mixedPrecision, noGrad } from '../tensor/runtime.js';
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
  /** Wrong pixels at the first threshold by their distance from the true boundary (when asked for). */
  boundary?: BoundaryErrors;
  /** GlaS object F1, object Dice and object Hausdorff at the first threshold (when asked for) */
  glas?: GlasReport;
  /** ISBI 2012 foreground-restricted V_rand and V_info at the first threshold (when asked for) */
  isbi?: IsbiReport;
}

export interface EvaluateOptions {
  thresholds?: readonly number[];
  device?: Device;
  amp?: DType | null;
  loss?: Loss;
  sweep?: boolean;
  /** Also break the errors at the first threshold down by distance from the true boundary. */
  boundary?: boolean;
  /** Also score objects at the first threshold: GlaS's object metrics or ISBI 2012's region scores. */
  objects?: ObjectMetricKind;
  /**
   * Removes small objects and fills small holes of the mask at the first
   * threshold before anything is scored (see postProcessProbabilities for
   * what the other thresholds see).
   */
  postProcessing?: PostProcessing;
  /** Sums the metric counts over processes (data-parallel validation); identity by default. */
  reduce?: (counts: Float64Array) => Float64Array;
  /**
   * The model's working resolution (data/scale.ts): images are shrunk this
   * many times before the forward pass and the probabilities brought back to
   * the masks' pixels, as predict does; the loss compares the logits with
   * the masks shrunk the same way. Default 1.
   */
  downsample?: number;
}

/** Scores a binary network on every batch of `batches` (whole images, evaluation mode). */
export async function evaluateBinary(
  net: SegmentationNet,
  batches: AsyncIterable<HostBatch>,
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
  const foreground = new BinaryMetricAccumulator(thresholds);
  const background = new BinaryMetricAccumulator(thresholds.map((t) => 1 - t));
  let sweep = options.sweep ? new ThresholdSweep() : null;
  let boundary = options.boundary ? new BoundaryErrorAccumulator(thresholds[0]) : null;
  let objects = options.objects ? new (options.objects === 'glas' ? GlasMetricAccumulator : IsbiMetricAccumulator)(thresholds[0]) : null;
  const perImage: EvaluationReport['perImage'] = [];
  let lossSum = 0;
  const run = inferBatches(net, batches, options, 1, (logits) => net.probabilities(logits).toFloat32Array(), (probabilities) => probabilities);
  for await (const { batch, value: probabilities, loss } of run) {
    const n = batch.shape[0];
    lossSum += loss * n;
    const [height, width] = [batch.shape[2], batch.shape[3]];
    if (options.postProcessing) {
      for (let i = 0; i < n; i++) postProcessProbabilities(probabilities, i * height * width, width, height, thresholds[0], options.postProcessing);
    }
    // unannotated pixels (slides) are scored by neither accumulator
    const ignore = batch.masks.includes(IGNORE_LABEL) ? batch.masks.map((v) => (v === IGNORE_LABEL ? 1 : 0)) : undefined;
    const binaryMasks = batch.masks.map((v) => (v > 0 && v !== IGNORE_LABEL ? 1 : 0));
    const scores = foreground.add(probabilities, binaryMasks, n, ignore);
    background.add(probabilities.map((p) => 1 - p), binaryMasks.map((v) => 1 - v), n, ignore);
    sweep?.add(probabilities, binaryMasks, n, ignore);
    boundary?.add(probabilities, binaryMasks, n, batch.shape[2], batch.shape[3]);
    objects?.add(probabilities, batch.instances ?? binaryMasks, batch.names, batch.shape[2], batch.shape[3]);
    scores.forEach((row, i) => {
      const entry: EvaluationReport['perImage'][number] = { name: batch.names[i], scores: {} };
      row.forEach((s, t) => (entry.scores[String(thresholds[t])] = { dice: s.dice, iou: s.iou, precision: s.precision, recall: s.recall }));
      perImage.push(entry);
    });
  }
  let [fg, bg, losses] = [foreground, background, lossSum];
  if (options.reduce) {
    fg = new BinaryMetricAccumulator(thresholds, options.reduce(foreground.counts()));
    bg = new BinaryMetricAccumulator(thresholds.map((t) => 1 - t), options.reduce(background.counts()));
    losses = options.reduce(new Float64Array([lossSum]))[0];
    if (boundary) boundary = new BoundaryErrorAccumulator(boundary.threshold, options.reduce(boundary.counts()));
    if (sweep) sweep = new ThresholdSweep({}, options.reduce(sweep.counts()));
    if (objects) objects = new (objects instanceof GlasMetricAccumulator ? GlasMetricAccumulator : IsbiMetricAccumulator)(objects.threshold, options.reduce(objects.counts()));
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
  if (boundary) report.boundary = boundary.result();
  if (objects instanceof GlasMetricAccumulator) report.glas = objects.result();
  else if (objects) report.isbi = objects.result();
  return report;
}

/**
 * Scores a network with several classes (softmax, prediction = most probable
 * class). The report has one pseudo-threshold, "argmax": mean Dice/IoU over the
 * foreground classes, pixel accuracy; precision and recall are NaN (not defined
 * for several classes at once); "background" holds class 0's scores.
 */
export async function evaluateMulticlass(
  net: SegmentationNet & { options: { classes: number } },
  batches: AsyncIterable<HostBatch>,
  options: Omit<EvaluateOptions, 'thresholds' | 'sweep'> = {},
): Promise<EvaluationReport> {
  const classes = net.options.classes;
  const accumulator = new MulticlassMetricAccumulator(classes);
  const perImage: EvaluationReport['perImage'] = [];
  let lossSum = 0;
  const run = inferBatches(
    net, batches, options, classes,
    (logits) => logits.argmax(1).to('uint8').toArray() as Uint8Array,
    (probabilities, n, plane) => argmaxClasses(probabilities, n, classes, plane),
  );
  for await (const { batch, value: predicted, loss } of run) {
    const n = batch.shape[0];
    lossSum += loss * n;
    const scores = accumulator.add(predicted, batch.masks, n);
    scores.forEach((row, i) => {
      const foreground = row.slice(1);
      const dice = foreground.reduce((s, c) => s + c.dice, 0) / Math.max(1, foreground.length);
      const iou = foreground.reduce((s, c) => s + c.iou, 0) / Math.max(1, foreground.length);
      perImage.push({ name: batch.names[i], scores: { argmax: { dice, iou, precision: NaN, recall: NaN } } });
    });
  }
  const merged = options.reduce ? new MulticlassMetricAccumulator(classes, options.reduce(accumulator.counts())) : accumulator;
  const losses = options.reduce ? options.reduce(new Float64Array([lossSum]))[0] : lossSum;
  const r = merged.result();
  return {
    images: r.images,
    ...(options.loss ? { loss: losses / Math.max(1, r.images) } : {}),
    thresholds: { argmax: { ...r.meanForeground, precision: NaN, recall: NaN, accuracy: r.accuracy } },
    background: { argmax: r.perClass[0] },
    perImage,
  };
}

/**
 * The forward passes both evaluators share: the network in evaluation mode
 * (restored afterwards, also when the caller stops early), no autograd, every
 * tensor freed per batch; yields what `read` takes from the logits and the
 * batch's mean loss (0 without a loss). A model with a working resolution
 * below the images' (`downsample`) sees shrunk images, and `readUpsampled`
 * takes its probabilities brought back to the batch's pixels instead.
 */
async function* inferBatches<T>(
  net: SegmentationNet,
  batches: AsyncIterable<HostBatch>,
  options: Pick<EvaluateOptions, 'device' | 'amp' | 'loss' | 'downsample'>,
  classes: number,
  read: (logits: Tensor) => T,
  readUpsampled: (probabilities: Float32Array, images: number, plane: number) => T,
): AsyncGenerator<{ batch: HostBatch; value: T; loss: number }> {
  const device = options.device ?? 'cpu';
  const factor = options.downsample ?? 1;
  const wasTraining = net.training;
  net.train(false);
  try {
    for await (const batch of batches) {
      const seen = downsampleBatch(batch, factor);
      const out = noGrad(() =>
        tidy(() => {
          const { images, masks } = batchToTensors(seen, { device, classes });
          const logits = mixedPrecision(device, options.amp, () => net.forward(images));
          const loss = options.loss ? options.loss(logits, masks).item() : 0;
          if (factor === 1) return { value: read(logits), loss };
          const [n, , height, width] = batch.shape;
          const [, , h, w] = seen.shape;
          const probabilities = net.probabilities(logits).to('float32').toFloat32Array();
          const upsampled = upsamplePlanar(probabilities, n * Math.max(1, classes), h, w, factor, height, width);
          return { value: readUpsampled(upsampled, n, height * width), loss };
        }),
      );
      yield { batch, ...out };
    }
  } finally {
    net.train(wasTraining);
  }
}

/** The most probable class of each pixel of `n` planar probability maps of `classes` planes (ties to the lower class, as argmax). */
function argmaxClasses(probabilities: Float32Array, n: number, classes: number, plane: number): Uint8Array {
  const out = new Uint8Array(n * plane);
  for (let i = 0; i < n; i++) {
    const base = i * classes * plane;
    for (let p = 0; p < plane; p++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probabilities[base + k * plane + p] > probabilities[base + best * plane + p]) best = k;
      out[i * plane + p] = best;
    }
  }
  return out;
}

/**
 * The object metrics that suit a folder's masks: ISBI 2012's when the first
 * mask's background is a thin network of walls (membranes), else GlaS's. All
 * masks of a folder are one kind; every rank reads the same first mask, so
 * all decide alike.
 */
export async function objectMetricsOfFolder(loader: DataLoader): Promise<ObjectMetricKind | undefined> {
  const first = loader.dataset.entries[0];
  if (!first) return undefined;
  const mask = toLabelMask(await decodeImageFile(first.maskPath), loader.foreground ?? undefined);
  return objectMetricKind(mask.data, mask.width, mask.height);
}

/**
 * The batches with the object numbers of their mask files attached
 * (`--foreground instances`), for the object metrics to score objects as
 * numbered; the loader's own masks are one foreground class. `cache` keeps
 * the numbers by image name across calls: training validates the same images
 * every few epochs, and decoding their masks again each time is wasted work.
 */
export async function* withInstanceLabels(
  batches: AsyncIterable<HostBatch>,
  loader: DataLoader,
  cache?: Map<string, Uint8Array | Uint16Array>,
): AsyncGenerator<HostBatch> {
  const maskPaths = new Map(loader.dataset.entries.map((e) => [e.name, e.maskPath]));
  for await (const batch of batches) {
    const plane = batch.shape[2] * batch.shape[3];
    const instances = new Uint16Array(batch.names.length * plane);
    for (const [i, name] of batch.names.entries()) {
      const path = maskPaths.get(name)!;
      let labels = cache?.get(name);
      if (!labels) {
        labels = instanceLabels(await decodeImageFile(path));
        cache?.set(name, labels);
      }
      if (labels.length !== plane) throw new Error(`${path}: ${labels.length} mask values for an image of ${batch.shape[3]}x${batch.shape[2]}`);
      instances.set(labels, i * plane);
    }
    yield { ...batch, instances };
  }
}
