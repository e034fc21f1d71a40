/**
 * Accuracy of the inference network against the float32 training graph on real
 * images with masks: for a checkpoint and a folder (images/ + masks/), every
 * image is predicted tile by tile with the training graph in eval mode
 * (float32) and with the folded network in float32 and bfloat16; prints the
 * Dice of each against the mask (foreground = nonzero mask pixels, the
 * checkpoint's threshold), the Dice difference, and the largest probability
 * difference. The bar for bfloat16: Dice difference <= 0.001.
 *
 * Run: node dist/bench/infer-precision.js MODEL.pt DATA_DIR [MAX_IMAGES]
 * Env: PATHO_TILE (512), PATHO_THREADS (2).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { decodeImageFile } from '../src/data/decode.js';
import { FoldedUNet } from '../src/infer/folded.js';
import { readImageForInference } from '../src/infer/image.js';
import { predictSliding, type InferenceNet } from '../src/infer/sliding.js';
import { loadTrainedNet } from '../src/infer/trained.js';
import { setNumThreads } from '../src/tensor/runtime.js';

const [modelPath, dataDir, maxImages] = process.argv.slice(2);
if (!modelPath || !dataDir) throw new Error('usage: node dist/bench/infer-precision.js MODEL.pt DATA_DIR [MAX_IMAGES]');
setNumThreads(Number(process.env.PATHO_THREADS ?? 2));
const tile = Number(process.env.PATHO_TILE ?? 512);
const { net, meta } = await loadTrainedNet(modelPath);
const engines: [string, InferenceNet & { dispose(): void }][] = [
  ['graph fp32', net],
  ['folded fp32', new FoldedUNet(net)],
  ['folded bf16', new FoldedUNet(net, { dtype: 'bfloat16' })],
];
const names = readdirSync(join(dataDir, 'images')).sort().slice(0, Number(maxImages ?? 1e9));

function dice(probabilities: Float32Array, mask: Uint8Array): number {
  let both = 0;
  let predicted = 0;
  let truth = 0;
  for (let i = 0; i < mask.length; i++) {
    const p = probabilities[i] >= meta.threshold ? 1 : 0;
    both += p & mask[i];
    predicted += p;
    truth += mask[i];
  }
  return predicted + truth === 0 ? 1 : (2 * both) / (predicted + truth);
}

const totals = new Map(engines.map(([name]) => [name, { dice: 0, diceDiff: 0, maxProbDiff: 0 }]));
for (const name of names) {
  const { image } = await readImageForInference(join(dataDir, 'images', name), meta.normalization);
  const rawMask = await decodeImageFile(join(dataDir, 'masks', name));
  const mask = new Uint8Array(rawMask.width * rawMask.height);
  for (let i = 0; i < mask.length; i++) mask[i] = rawMask.data[i * rawMask.channels] > 0 ? 1 : 0;
  let reference: Float32Array | null = null;
  let referenceDice = 0;
  const line: string[] = [];
  for (const [engine, n] of engines) {
    const p = predictSliding(n, image, { tile, overlap: 0.25 }).data;
    const d = dice(p, mask);
    const t = totals.get(engine)!;
    t.dice += d / names.length;
    if (!reference) {
      reference = p;
      referenceDice = d;
    } else {
      let worst = 0;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - reference[i]));
      t.maxProbDiff = Math.max(t.maxProbDiff, worst);
      t.diceDiff = Math.max(t.diceDiff, Math.abs(d - referenceDice));
    }
    line.push(`${engine} Dice ${d.toFixed(5)}`);
  }
  console.log(`${name}: ${line.join(', ')}`);
}
console.log(`\n${modelPath} on ${names.length} images of ${dataDir} (threshold ${meta.threshold}, tile ${tile})`);
console.log('engine         mean Dice   max |Dice - graph fp32| per image   max |p - graph fp32|');
for (const [engine, t] of totals) console.log(`${engine.padEnd(14)} ${t.dice.toFixed(5)}   ${t.diceDiff.toExponential(2).padStart(12)}   ${t.maxProbDiff.toExponential(2).padStart(22)}`);
for (const [, n] of engines) n.dispose();
