/**
 * `patho eval`: Dice, IoU, precision and recall of a checkpoint on a folder of
 * images and masks, and the object-level scores of GlaS or ISBI 2012.
 */
import { existsSync } from 'node:fs';
import { decodeImageFile } from '../data/decode.js';
import { DataLoader } from '../data/loader.js';
import { instanceLabels, toLabelMask } from '../data/masks.js';
import type { HostBatch } from '../data/types.js';
import type { GlasReport } from '../metrics/objects.js';
import type { IsbiReport } from '../metrics/rand.js';
import { objectMetricKind, type ObjectMetricKind } from '../metrics/structures.js';
import { loadTrainedNet } from '../infer/trained.js';
import { evaluateBinary, type EvaluationReport } from '../train/evaluate.js';
import { ampFor } from './amp.js';
import { UsageError } from './args.js';
import { parseThreshold, type EvalOptions } from './commands.js';
import { foregroundOption } from './foreground.js';
import { startUp } from './startup.js';

export async function evalCommand(o: EvalOptions): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho eval');
  if (!existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho eval');
  const asked = parseThreshold(o.threshold, 'patho eval');
  const foreground = foregroundOption(o.foreground, 'patho eval').spec;
  const started = await startUp(o, 'patho eval', false);
  if ('exitCode' in started) return started.exitCode;
  const { device } = started;
  const { net, meta } = await loadTrainedNet(o.model, { device });
  if (net.options.classes !== 1) throw new UsageError(`patho eval scores binary models; ${o.model} has ${net.options.classes} classes`, 'patho eval');
  const threshold = asked === 'auto' ? meta.threshold : asked;
  const loader = new DataLoader(o.data, o.images, o.masks, {
    batchSize: 1,
    augment: 'none',
    normalize: meta.normalization ?? 'none',
    shuffle: false,
    workers: o.workers,
    foreground,
    skipBad: o.skipBad,
  });
  try {
    await loader.open();
    const sizes = new Set(loader.dataset.entries.map((e) => `${e.width}x${e.height}`));
    const batches = sizes.size === 1 && o.batchSize > 1 ? rebatch(loader, o.batchSize, o) : loader.epochBatches(0);
    const maskPaths = new Map(loader.dataset.entries.map((e) => [e.name, e.maskPath]));
    const report = await evaluateBinary(net, foreground === 'instances' ? withInstances(batches, maskPaths) : batches, {
      // the threshold masks are cut at first: the boundary errors are counted at it
      thresholds: [...new Set([threshold, ...o.thresholds])],
      device,
      amp: ampFor(o.amp, device, { command: 'patho eval' }),
      sweep: o.sweep,
      boundary: true,
      objects: await objectMetricsFor(o.objectMetrics, loader),
    });
    process.stdout.write(o.json ? JSON.stringify({ threshold, ...report }) + '\n' : formatReport(report, threshold, asked === 'auto'));
    return 0;
  } finally {
    net.dispose();
    await loader.close();
  }
}

/** The object metrics `--object-metrics` asks for; auto looks at the first mask (all masks of a folder are one kind). */
async function objectMetricsFor(choice: EvalOptions['objectMetrics'], loader: DataLoader): Promise<ObjectMetricKind | undefined> {
  if (choice === 'none') return undefined;
  if (choice !== 'auto') return choice;
  const first = loader.dataset.entries[0];
  if (!first) return undefined;
  const mask = toLabelMask(await decodeImageFile(first.maskPath), loader.foreground ?? undefined);
  return objectMetricKind(mask.data, mask.width, mask.height);
}

/** The batches with their masks' object numbers (--foreground instances), read from the mask files. */
async function* withInstances(batches: AsyncIterable<HostBatch>, maskPaths: Map<string, string>): AsyncGenerator<HostBatch> {
  for await (const batch of batches) {
    const plane = batch.shape[2] * batch.shape[3];
    const instances = new Uint16Array(batch.names.length * plane);
    for (const [i, name] of batch.names.entries()) {
      const path = maskPaths.get(name)!;
      const labels = instanceLabels(await decodeImageFile(path));
      if (labels.length !== plane) throw new Error(`${path}: ${labels.length} mask values for an image of ${batch.shape[3]}x${batch.shape[2]}`);
      instances.set(labels, i * plane);
    }
    yield { ...batch, instances };
  }
}

/** Same-size images: a loader with the requested batch size. */
async function* rebatch(base: DataLoader, batchSize: number, o: EvalOptions) {
  const loader = new DataLoader(base.root, base.imagesDir, base.masksDir, {
    batchSize, augment: 'none', normalize: await base.stats() ?? 'none', shuffle: false, workers: o.workers,
    foreground: base.foreground ?? undefined, skipBad: o.skipBad,
  });
  try {
    yield* loader.epochBatches(0);
  } finally {
    await loader.close();
  }
}

/** The tables of the report; `threshold` is the one asked for (the model's when `auto`). */
function formatReport(r: EvaluationReport, threshold: number, auto: boolean): string {
  const lines = [
    `${r.images} images; threshold ${threshold} (${auto ? "the model's" : 'from --threshold'}) first`,
    'threshold   dice     iou      precision  recall   | background dice  iou',
  ];
  for (const [t, s] of Object.entries(r.thresholds)) {
    const b = r.background[t];
    lines.push(
      `${t.padEnd(10)}  ${s.dice.toFixed(4)}   ${s.iou.toFixed(4)}   ${s.precision.toFixed(4)}     ${s.recall.toFixed(4)}   | ${b.dice.toFixed(4)}           ${b.iou.toFixed(4)}`,
    );
  }
  if (r.sweep) lines.push(`best threshold by mean Dice: ${r.sweep.best.threshold} (Dice ${r.sweep.best.dice.toFixed(4)}, IoU ${r.sweep.best.iou.toFixed(4)})`);
  if (r.boundary) {
    const b = r.boundary;
    const bands = b.byDistance.map((v, i) => `${i + 1}${i === b.byDistance.length - 1 ? '+' : ''}: ${(v * 100).toFixed(2)}%`).join('  ');
    lines.push(`wrong pixels at ${b.threshold}: ${(b.pixelError * 100).toFixed(2)}%; by distance from the true boundary (px) ${bands}`);
  }
  if (r.glas) lines.push(...glasLines(r.glas));
  if (r.isbi) lines.push(...isbiLines(r.isbi));
  lines.push('', 'per image (dice at each threshold):');
  for (const p of r.perImage) lines.push(`  ${p.name}: ${Object.entries(p.scores).map(([t, s]) => `${t} ${s.dice.toFixed(4)}`).join('  ')}`);
  return lines.join('\n') + '\n';
}

function glasLines(g: GlasReport): string[] {
  const hausdorff = g.objectHausdorff === null ? 'n/a' : `${g.objectHausdorff.toFixed(2)} px`;
  return [
    `GlaS objects at ${g.threshold} (8-connected): F1 ${g.f1.toFixed(4)} (TP ${g.tp}, FP ${g.fp}, FN ${g.fn}), ` +
      `object Dice ${g.objectDice.toFixed(4)}, object Hausdorff ${hausdorff}` +
      (g.unpaired > 0 ? ` (${g.unpaired} object(s) in images with nothing on the other side left out)` : ''),
  ];
}

function isbiLines(r: IsbiReport): string[] {
  return [
    `ISBI 2012 regions at ${r.threshold} (4-connected cells, foreground-restricted, ${r.images} image(s)): ` +
      `V_rand ${r.vRand.toFixed(4)} (split ${r.vRandSplit.toFixed(4)}, merge ${r.vRandMerge.toFixed(4)}), V_info ${r.vInfo.toFixed(4)}`,
  ];
}
