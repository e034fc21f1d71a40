/**
 * `patho tune`: chooses a trained model's post-processing (small objects
 * removed, small holes filled) on its validation images and stores it in the
 * checkpoint. A step after training, as nnU-Net decides its post-processing
 * after training on its validation predictions: it works on any checkpoint
 * that records its validation images, and needs one pass over them, not one
 * per validated epoch.
 */
import { existsSync } from 'node:fs';
import { decodeImageFile } from '../data/decode.js';
import { SegmentationDataset } from '../data/dataset.js';
import { instanceLabels, toLabelMask, type ForegroundSpec } from '../data/masks.js';
import { growMap, shrinkImage } from '../data/scale.js';
import { readImageForInference } from '../infer/image.js';
import { choosePostProcessing, isNoOp, type PostProcessingTrial, type ScoredPrediction } from '../infer/postprocess.js';
import { loadTrainedNet } from '../infer/trained.js';
import { symmetryAverage } from '../infer/tta.js';
import { objectMetricKind } from '../metrics/structures.js';
import type { UNet } from '../models/unet.js';
import { recordedPairs, type ValidationPair } from '../report/validation.js';
import { tensor } from '../tensor/create.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { updateCheckpointMeta, type CheckpointMeta } from '../train/checkpoint.js';
import { UsageError } from './args.js';
import { parseThreshold, type TuneOptions } from './commands.js';
import { foregroundOption } from './foreground.js';
import { startUp } from './startup.js';

const PROGRAM = 'patho tune';

export async function tuneCommand(o: TuneOptions): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, PROGRAM);
  if (o.data !== undefined && !existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, PROGRAM);
  const asked = parseThreshold(o.threshold, PROGRAM);
  const started = await startUp(o, PROGRAM, false);
  if ('exitCode' in started) return started.exitCode;
  const { net, meta } = await loadTrainedNet(o.model, { device: started.device });
  try {
    if (net.options.classes !== 1) throw new UsageError(`${PROGRAM} post-processes binary masks; ${o.model} has ${net.options.classes} classes`, PROGRAM);
    const { pairs, foreground } = o.data !== undefined ? await folderPairs(o) : recordedPairs(meta);
    if (pairs.length === 0) {
      throw new UsageError(`${o.model} records no validation images (trained without a validation split, or an older checkpoint); choose on a folder with --data`, PROGRAM);
    }
    const threshold = asked === 'auto' ? meta.threshold : asked;
    const source = o.data !== undefined ? `images of ${o.data}` : 'validation images';
    const { best, none, trials, chosenOn } = await choose(net, meta, pairs, foreground, { device: started.device, tta: o.tta, threshold, source });
    if (o.save) await updateCheckpointMeta(o.model, { postProcessing: { minObjectPx: best.minObjectPx, fillHolesPx: best.fillHolesPx, chosenOn } });
    if (o.json) {
      process.stdout.write(JSON.stringify({ chosen: best, without: none, chosenOn, saved: o.save, trials }) + '\n');
    } else {
      process.stdout.write(formatTrials(trials, best, none, chosenOn, o.save ? o.model : null));
    }
    return 0;
  } finally {
    net.dispose();
  }
}

/**
 * `patho train --tune`: the same choice on the validation images the new
 * model.pt records, stored in it; one line says what was chosen and what it
 * changed. Nothing is chosen for several classes or without validation images
 * (the line says so).
 */
export async function tuneAfterTraining(modelPath: string, device: string): Promise<void> {
  const { net, meta } = await loadTrainedNet(modelPath, { device });
  try {
    const { pairs, foreground } = recordedPairs(meta);
    if (net.options.classes !== 1 || pairs.length === 0) {
      process.stderr.write(`patho train --tune: ${net.options.classes !== 1 ? `post-processing is for binary masks; this model has ${net.options.classes} classes` : 'no validation images to choose post-processing on'}, nothing chosen\n`);
      return;
    }
    const { best, none, chosenOn } = await choose(net, meta, pairs, foreground, { device, tta: false, threshold: meta.threshold, source: 'validation images' });
    await updateCheckpointMeta(modelPath, { postProcessing: { minObjectPx: best.minObjectPx, fillHolesPx: best.fillHolesPx, chosenOn } });
    const score = (t: PostProcessingTrial) => (t.objectF1 === null ? `Dice ${t.dice.toFixed(4)}` : `object F1 ${t.objectF1.toFixed(4)}, Dice ${t.dice.toFixed(4)}`);
    process.stderr.write(
      `patho train --tune: ${isNoOp(best) ? 'no post-processing' : `objects under ${best.minObjectPx} px removed, holes under ${best.fillHolesPx} px filled`} ` +
        `(${score(best)}; without: ${score(none)}) on ${chosenOn}; stored in ${modelPath}: predict and eval apply it by default\n`,
    );
  } finally {
    net.dispose();
  }
}

/** Predicts `pairs` with `net` and tries the post-processing candidates on them: the best by GlaS object F1 where the masks hold separate objects, else by mean Dice. */
async function choose(
  net: UNet, meta: CheckpointMeta, pairs: readonly ValidationPair[], foreground: ForegroundSpec | null,
  o: { device: string; tta: boolean; threshold: number; source: string },
): Promise<{ best: PostProcessingTrial; none: PostProcessingTrial; trials: PostProcessingTrial[]; chosenOn: string }> {
  const predictions: ScoredPrediction[] = [];
  for (const pair of pairs) predictions.push(await predictPair(net, pair, foreground, meta.normalization, o.device, o.tta, meta.downsample ?? 1));
  const first = predictions[0];
  const objects = objectMetricKind(first.truth, first.width, first.height) === 'glas';
  const { best, trials } = choosePostProcessing(predictions, o.threshold, { objects });
  const chosenOn = `${pairs.length} ${o.source} at threshold ${o.threshold}${o.tta ? ' with test-time augmentation' : ''}, by ${objects ? 'GlaS object F1' : 'mean Dice'}`;
  const none = trials.find((t) => t.minObjectPx === 0 && t.fillHolesPx === 0)!;
  return { best, none, trials, chosenOn };
}

/** The image/mask pairs of `--data`, read as training reads them. */
async function folderPairs(o: TuneOptions): Promise<{ pairs: ValidationPair[]; foreground: ForegroundSpec | null }> {
  const foreground = foregroundOption(o.foreground, PROGRAM).spec;
  const dataset = await SegmentationDataset.open(o.data!, o.images, o.masks, { foreground, skipBad: o.skipBad });
  return { pairs: dataset.entries.map((e) => ({ name: e.name, image: e.imagePath, mask: e.maskPath })), foreground: foreground ?? null };
}

/** The foreground probabilities of one image (a whole-image pass, as eval makes) and its true mask. */
async function predictPair(
  net: UNet, pair: ValidationPair, foreground: ForegroundSpec | null, normalization: Parameters<typeof readImageForInference>[1], device: string, tta: boolean,
  downsample: number,
): Promise<ScoredPrediction> {
  const { image } = await readImageForInference(pair.image, normalization);
  const raw = await decodeImageFile(pair.mask);
  const truth = foreground === 'instances' ? instanceLabels(raw) : toLabelMask(raw, foreground ?? undefined).data;
  if (raw.width !== image.width || raw.height !== image.height) {
    throw new Error(`${pair.mask}: mask is ${raw.width}x${raw.height}, image ${image.width}x${image.height}`);
  }
  // a model with a working resolution sees the image shrunk, and its probabilities come back to the mask's pixels
  const seen = shrinkImage(image, downsample);
  const small = noGrad(() =>
    tidy(() => {
      let x = tensor(seen.data, [1, seen.channels, seen.height, seen.width]);
      if (device !== 'cpu') x = x.to(device);
      const predict = (t: Tensor) => net.probabilities(net.forward(t));
      return (tta ? symmetryAverage(predict, x) : predict(x)).toFloat32Array();
    }),
  );
  const { data: probabilities } = growMap({ ...seen, classes: 1, data: small }, downsample, image);
  return { name: pair.name, width: image.width, height: image.height, probabilities, truth };
}

function formatTrials(trials: PostProcessingTrial[], best: PostProcessingTrial, none: PostProcessingTrial, chosenOn: string, savedTo: string | null): string {
  const f1 = (t: PostProcessingTrial) => (t.objectF1 === null ? '' : `  object F1 ${t.objectF1.toFixed(4)}`);
  const lines = [`post-processing chosen on ${chosenOn}:`, 'min object px  fill holes px  dice     object F1'];
  for (const t of trials) {
    lines.push(`${String(t.minObjectPx).padStart(13)}  ${String(t.fillHolesPx).padStart(13)}  ${t.dice.toFixed(4)}   ${t.objectF1 === null ? '-' : t.objectF1.toFixed(4)}${t === best ? '  <- best' : ''}`);
  }
  lines.push(
    `best: objects under ${best.minObjectPx} px removed, holes under ${best.fillHolesPx} px filled: Dice ${best.dice.toFixed(4)}${f1(best)} ` +
      `(without: Dice ${none.dice.toFixed(4)}${f1(none)})`,
    savedTo ? `stored in ${savedTo}: predict and eval apply it by default (--min-object-px/--fill-holes-px override)` : 'not stored (--no-save)',
  );
  return lines.join('\n') + '\n';
}
