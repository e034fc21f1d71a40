/**
 * `patho eval`: Dice, IoU, precision and recall of a checkpoint on a folder of
 * images and masks, and the object-level scores of GlaS or ISBI 2012.
 */
import { existsSync } from 'node:fs';
import { DataLoader } from '../data/loader.js';
import type { GlasReport } from '../metrics/objects.js';
import type { IsbiReport } from '../metrics/rand.js';
import type { ObjectMetricKind } from '../metrics/structures.js';
import { EnsembleNet, loadEnsemble } from '../infer/ensemble.js';
import { evaluateBinary, objectMetricsOfFolder, withInstanceLabels, type EvaluationReport } from '../train/evaluate.js';
import { ampFor } from './amp.js';
import { UsageError } from './args.js';
import { parsePostProcessing, parseThreshold, type EvalOptions } from './commands.js';
import { isNoOp, type PostProcessing } from '../infer/postprocess.js';
import { withTestTimeAugmentation } from '../infer/tta.js';
import { foregroundOption } from './foreground.js';
import { modelOption } from './models.js';
import { startUp } from './startup.js';

export async function evalCommand(o: EvalOptions): Promise<number> {
  const modelPaths = modelOption(o.model, 'patho eval');
  if (!existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho eval');
  const asked = parseThreshold(o.threshold, 'patho eval');
  const foreground = foregroundOption(o.foreground, 'patho eval').spec;
  const started = await startUp(o, 'patho eval', false);
  if ('exitCode' in started) return started.exitCode;
  const { device } = started;
  const { members, meta } = await loadEnsemble(modelPaths, { device });
  if (members.length > 1 && !o.json) process.stdout.write(`an ensemble of ${members.length} models: ${modelPaths.join(', ')}\n`);
  // one model is scored as itself; several through the mean of their probabilities
  const net = members.length === 1 ? members[0].net : new EnsembleNet(members.map((m) => m.net));
  const disposeAll = () => members.forEach((m) => m.net.dispose());
  if (net.options.classes !== 1) {
    disposeAll();
    throw new UsageError(`patho eval scores binary models; ${o.model} has ${net.options.classes} classes`, 'patho eval');
  }
  const threshold = asked === 'auto' ? meta.threshold : asked;
  const postProcessing = parsePostProcessing(o, meta.postProcessing, 'patho eval');
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
    const report = await evaluateBinary(o.tta ? withTestTimeAugmentation(net) : net, foreground === 'instances' ? withInstanceLabels(batches, loader) : batches, {
      // the threshold masks are cut at first: the boundary errors are counted at it
      thresholds: [...new Set([threshold, ...o.thresholds])],
      device,
      amp: ampFor(o.amp, device, { command: 'patho eval' }),
      sweep: o.sweep,
      boundary: true,
      objects: await objectMetricsFor(o.objectMetrics, loader),
      postProcessing: isNoOp(postProcessing) ? undefined : postProcessing,
      downsample: meta.downsample ?? 1,
    });
    const source = asked !== 'auto' ? 'from --threshold' : members.length > 1 ? `the mean of the ${members.length} models'` : "the model's";
    const models = members.length > 1 ? { models: modelPaths } : {};
    const setup = { threshold, tta: o.tta, postProcessing };
    process.stdout.write(o.json ? JSON.stringify({ ...setup, ...models, ...report }) + '\n' : formatReport(report, setup, source));
    return 0;
  } finally {
    disposeAll();
    await loader.close();
  }
}

/** The object metrics `--object-metrics` asks for; auto decides from the folder's masks. */
async function objectMetricsFor(choice: EvalOptions['objectMetrics'], loader: DataLoader): Promise<ObjectMetricKind | undefined> {
  if (choice === 'none') return undefined;
  return choice === 'auto' ? objectMetricsOfFolder(loader) : choice;
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

/** The tables of the report; `setup.threshold` is the one asked for, `source` says whose it is. */
function formatReport(r: EvaluationReport, setup: { threshold: number; tta: boolean; postProcessing: PostProcessing }, source: string): string {
  const { threshold, postProcessing: p } = setup;
  const cleanup = isNoOp(p) ? 'no post-processing' : `objects under ${p.minObjectPx} px removed, holes under ${p.fillHolesPx} px filled at ${threshold}`;
  const lines = [
    `${r.images} images; threshold ${threshold} (${source}) first; ${setup.tta ? 'test-time augmentation, ' : ''}${cleanup}`,
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
