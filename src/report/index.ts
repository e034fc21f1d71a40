/**
 * The training report: RUN_DIR/report.html, one self-contained page with the
 * run's curves, the saved model scored again on the validation images (per
 * image, with a threshold sweep and the worst and best examples) and the
 * run's configuration.
 *
 * ```ts
 * const path = await writeReport('data/runs/glas'); // data/runs/glas/report.html
 * ```
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ForegroundSpec } from '../data/masks.js';
import { loadTrainedNet } from '../infer/trained.js';
import { buildInfo } from '../tensor/runtime.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readRunLog } from '../train/log.js';
import { renderReport, type Example, type ReportContent } from './html.js';
import { renderPanels } from './panels.js';
import { recordedPairs, scoreValidation, type ValidationPair, type ValidationResult } from './validation.js';

/** Options of `writeReport`. */
export interface WriteReportOptions {
  /** The checkpoint to score. Default: RUN_DIR/model.pt, else RUN_DIR/last.pt. */
  model?: string;
  /** Where the page goes. Default RUN_DIR/report.html. */
  out?: string;
  /** Score these pairs instead of the validation images the checkpoint recorded. */
  pairs?: readonly ValidationPair[];
  /** How the masks of `pairs` are read; default: as recorded in the checkpoint. */
  foreground?: ForegroundSpec;
  /** Worst and best images shown. Default 3 of each. */
  examples?: number;
  /** Device of the evaluation. Default 'cpu'. */
  device?: string;
}

/** Writes the report of the run in `runDir`; returns the path of the page. */
export async function writeReport(runDir: string, options: WriteReportOptions = {}): Promise<string> {
  const logPath = join(runDir, 'train.jsonl');
  if (!existsSync(logPath)) throw new Error(`${runDir}: no train.jsonl here (is it the --out folder of patho train?)`);
  const records = readRunLog(logPath);
  const modelPath = options.model ?? [join(runDir, 'model.pt'), join(runDir, 'last.pt')].find((p) => existsSync(p));
  if (!modelPath || !existsSync(modelPath)) throw new Error(`${options.model ?? runDir}: no checkpoint (model.pt or last.pt) to score`);
  const device = options.device ?? 'cpu';
  const { net, meta } = await loadTrainedNet(modelPath, { device });
  let validation: ReportContent['validation'];
  try {
    const recorded = recordedPairs(meta);
    const pairs = options.pairs ?? recorded.pairs;
    if (net.options.classes !== 1) {
      validation = { missing: `The model has ${net.options.classes} classes; the report scores binary models only.` };
    } else if (pairs.length === 0) {
      validation = {
        missing:
          'The checkpoint records no validation images (trained without a validation split, or by an older patho); ' +
          'run patho report --data DIR to score a folder of images and masks.',
      };
    } else {
      // the thresholds of the first validated epoch (with --val-every N, epochs between validations have none)
      const validated = records.find((r) => r.event === 'epoch' && Object.keys((r.dice as object | undefined) ?? {}).length > 0);
      const thresholds = Object.keys((validated?.dice as object | undefined) ?? {}).map(Number);
      const foreground = options.foreground ?? recorded.foreground;
      const result = await scoreValidation(net, meta, runDir, { pairs, foreground, thresholds, device });
      validation = { result, ...(await examples(runDir, result, options.examples ?? 3)) };
    }
  } finally {
    net.dispose();
  }
  const html = renderReport({ runDir, modelPath, records, meta, runtime: { libtorch: buildInfo().torchVersion, device }, validation });
  const out = options.out ?? join(runDir, 'report.html');
  await writeFileAtomic(out, (write) => write(Buffer.from(html)));
  return out;
}

/**
 * The report at the end of `patho train`: a failure is printed as a warning,
 * since the trained model itself is already saved.
 */
export async function reportAfterTraining(runDir: string, options: { device?: string } = {}): Promise<void> {
  try {
    process.stderr.write(`patho train: report at ${await writeReport(runDir, options)}\n`);
  } catch (error) {
    process.stderr.write(`patho train: warning: no report (${error instanceof Error ? error.message : error})\n`);
  }
}

/** The `count` lowest- and highest-scoring images (by Dice at the report's threshold), with their panels. */
async function examples(runDir: string, result: ValidationResult, count: number): Promise<{ worst: Example[]; best: Example[] }> {
  const key = String(result.threshold);
  const ranked = result.report.perImage
    .map((p, i) => ({ name: p.name, dice: p.scores[key].dice, files: result.files[i] }))
    .sort((a, b) => a.dice - b.dice || a.name.localeCompare(b.name));
  const worst = ranked.slice(0, count);
  // with fewer than 2 * count images, an image is shown once, among the worst
  const best = ranked.slice(Math.max(count, ranked.length - count)).reverse();
  const withPanels = (picked: typeof ranked) =>
    Promise.all(picked.map(async ({ name, dice, files }) => ({ name, dice, panels: await renderPanels(runDir, files) })));
  return { worst: await withPanels(worst), best: await withPanels(best) };
}
