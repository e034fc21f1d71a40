/** `patho report`: the HTML report of a training run. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SegmentationDataset } from '../data/dataset.js';
import { writeReport } from '../report/index.js';
import { UsageError } from './args.js';
import type { ReportOptions } from './commands.js';
import { ensureWritableFolder } from './output.js';
import { foregroundOption } from './foreground.js';
import { startUp } from './startup.js';

export async function reportCommand(o: ReportOptions, [runDir]: string[]): Promise<number> {
  if (!existsSync(runDir)) throw new UsageError(`${runDir}: no such folder`, 'patho report');
  if (!existsSync(join(runDir, 'train.jsonl'))) throw new UsageError(`${runDir}: no train.jsonl here (is it the --out folder of patho train?)`, 'patho report');
  if (o.model && !existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho report');
  if (o.data && !existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho report');
  // the page, and the validation predictions in RUN_DIR/validation/
  ensureWritableFolder(runDir, 'RUN_DIR', 'patho report');
  if (o.out) ensureWritableFolder(dirname(o.out), '--out', 'patho report');
  const foreground = foregroundOption(o.foreground, 'patho report').spec;
  const started = await startUp(o, 'patho report', false);
  if ('exitCode' in started) return started.exitCode;
  const { device } = started;
  const pairs = o.data
    ? (await SegmentationDataset.open(o.data, o.images, o.masks, { foreground })).entries.map((e) => ({
        name: e.name,
        image: e.imagePath,
        mask: e.maskPath,
      }))
    : undefined;
  const path = await writeReport(runDir, { model: o.model, out: o.out, pairs, foreground, examples: o.examples, device });
  process.stdout.write(`report written to ${path}\n`);
  return 0;
}
