/**
 * Test-time augmentation and post-processing, each alone and together, on a
 * folder of images with masks: every image is predicted once plainly and
 * once averaged over the 8 flips and rotations, and each of the four
 * variants is scored by `evaluateBinary` (what `patho eval` runs): pixel
 * Dice and GlaS object F1/Dice/Hausdorff at the checkpoint's threshold, the
 * post-processing being the one stored in the checkpoint by `patho tune`.
 * One pass instead of four `patho eval` runs: the 8 views are predicted
 * once, the plain prediction being the first. Images are taken in two
 * interleaved halves (even positions, then odd ones) and the scores of all
 * images so far printed every PATHO_REPORT_EVERY images and at the end, so a
 * run stopped early (a loaded machine) still compares the four variants on
 * the same images. The post-processing is read from the checkpoint when scoring, so
 * `patho tune` may still be running when this starts.
 * Dice does not depend on speed, so a loaded machine changes nothing here.
 *
 * Run: node dist/bench/recipe-glas.js MODEL.pt DATA_DIR
 * Env: PATHO_THREADS (2), PATHO_REPORT_EVERY (6).
 */
import { DataLoader } from '../src/data/loader.js';
import type { HostBatch } from '../src/data/types.js';
import { downsampleBatch, upsamplePlanar } from '../src/data/scale.js';
import { batchToTensors } from '../src/data/tensors.js';
import { isNoOp, NO_POSTPROCESSING } from '../src/infer/postprocess.js';
import { loadTrainedNet } from '../src/infer/trained.js';
import { symmetryAverage } from '../src/infer/tta.js';
import { tensor } from '../src/tensor/create.js';
import { noGrad, setNumThreads } from '../src/tensor/runtime.js';
import { tidy } from '../src/tensor/scope.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { disposeCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { evaluateBinary, type SegmentationNet } from '../src/train/evaluate.js';

const [modelPath, dataDir] = process.argv.slice(2);
if (!modelPath || !dataDir) throw new Error('usage: node dist/bench/recipe-glas.js MODEL.pt DATA_DIR');
setNumThreads(Number(process.env.PATHO_THREADS ?? 2));
const { net, meta } = await loadTrainedNet(modelPath);
const factor = meta.downsample ?? 1;

const loader = new DataLoader(dataDir, 'images', 'masks', { batchSize: 1, augment: 'none', normalize: meta.normalization ?? 'none', shuffle: false, workers: 1 });
await loader.open();
const all: HostBatch[] = [];
for await (const batch of loader.epochBatches(0)) all.push(batch);
await loader.close();
const order = [...all.filter((_, i) => i % 2 === 0), ...all.filter((_, i) => i % 2 === 1)];
const reportEvery = Number(process.env.PATHO_REPORT_EVERY ?? 6);
const cached: { batch: HostBatch; plain: Float32Array; tta: Float32Array }[] = [];
for (const batch of order) {
  let plain: Float32Array | null = null;
  const predict = (t: Tensor) => net.probabilities(net.forward(t));
  const tta = noGrad(() =>
    tidy(() => {
      // a model trained at a working resolution sees the image shrunk, and its maps come back to the mask's pixels
      const { images } = batchToTensors(downsampleBatch(batch, factor), { device: 'cpu', classes: 1 });
      const [, , height, width] = batch.shape;
      const [, , h, w] = images.shape;
      const grow = (p: Float32Array) => upsamplePlanar(p, 1, h, w, factor, height, width);
      // the first view is the identity: its prediction is the plain one
      return grow(symmetryAverage((view) => {
        const p = predict(view);
        plain ??= grow(p.toFloat32Array());
        return p;
      }, images).toFloat32Array());
    }),
  );
  cached.push({ batch, plain: plain!, tta });
  process.stderr.write(`${cached.length} images predicted\n`);
  if (cached.length % reportEvery === 0 || cached.length === order.length) await scoreCached();
}
net.dispose();

/** A network that replays the cached probabilities of each image in turn. */
function replay(which: 'plain' | 'tta'): SegmentationNet {
  let next = 0;
  return {
    forward: (x) => tensor(cached[next++][which], [x.shape[0], 1, x.shape[2], x.shape[3]]),
    probabilities: (p) => p,
    train: () => undefined,
    training: false,
  };
}
async function* batches() {
  for (const c of cached) yield c.batch;
}

async function scoreCached(): Promise<void> {
  const checkpoint = await loadCheckpoint(modelPath);
  disposeCheckpoint(checkpoint);
  const postProcessing = checkpoint.meta.postProcessing ?? NO_POSTPROCESSING;
  if (isNoOp(postProcessing)) console.warn(`${modelPath} stores no post-processing (run patho tune first): the post-processed rows equal the plain ones`);
  const rows = [];
  for (const [label, which, cleanup] of [
    ['plain', 'plain', false],
    ['TTA', 'tta', false],
    ['post-processing', 'plain', true],
    ['TTA + post-processing', 'tta', true],
  ] as const) {
    const r = await evaluateBinary(replay(which), batches(), {
      thresholds: [meta.threshold],
      objects: 'glas',
      postProcessing: cleanup ? postProcessing : undefined,
    });
    const s = r.thresholds[String(meta.threshold)];
    rows.push({ variant: label, dice: s.dice, iou: s.iou, objectF1: r.glas!.f1, objectDice: r.glas!.objectDice, objectHausdorff: r.glas!.objectHausdorff, tp: r.glas!.tp, fp: r.glas!.fp, fn: r.glas!.fn });
  }
  console.log(`${modelPath} on ${cached.length} images of ${dataDir}, threshold ${meta.threshold}, post-processing ${JSON.stringify(postProcessing)}`);
  console.table(rows);
  console.log(JSON.stringify({ model: modelPath, data: dataDir, images: cached.map((c) => c.batch.names[0]), threshold: meta.threshold, postProcessing, rows }));
}
