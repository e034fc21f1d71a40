/** `patho export`: a checkpoint as an ONNX model, or as a static site that runs it in the browser. */
import { existsSync, statSync } from 'node:fs';
import { exportOnnx } from '../export/onnx.js';
import { writeWebSite } from '../web/site.js';
import { UsageError } from './args.js';
import type { ExportOptions } from './commands.js';

export async function exportCommand(o: ExportOptions, [out]: string[]): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho export');
  const options = { classNames: o.classNames, mpp: o.mpp, threshold: o.threshold };
  if (o.format === 'web') {
    if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`${out}: not a folder (--format web writes a folder)`, 'patho export');
    const files = await writeWebSite(o.model, out, options);
    process.stdout.write(
      `patho export: ${o.model} -> ${out} (${files.length} files: index.html, model.onnx, the page's scripts, ONNX Runtime Web, OpenSeadragon)\n` +
        `serve the folder with any static web server, e.g. python3 -m http.server -d ${out}\n`,
    );
    return 0;
  }
  const metadata = await exportOnnx(o.model, out, options);
  process.stdout.write(`patho export: ${o.model} -> ${out} (ONNX opset 17; classes ${metadata.class_names}, threshold ${metadata.threshold})\n`);
  return 0;
}
