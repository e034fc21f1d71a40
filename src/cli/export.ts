/** `patho export`: a checkpoint as an ONNX model (see src/export/onnx.ts), or as the static site of the browser page (src/web/). */
import { existsSync, statSync } from 'node:fs';
import { exportOnnx, OnnxExportError } from '../export/onnx.js';
import { writeWebSite } from '../web/site.js';
import { UsageError } from './args.js';
import type { ExportOptions } from './commands.js';

export async function exportCommand(o: ExportOptions, positionals: string[]): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho export');
  if (positionals.length !== 1) throw new UsageError(`expected one output ${o.format === 'web' ? 'folder' : 'file'}, got ${positionals.length}`, 'patho export');
  const out = positionals[0];
  const options = { classNames: o.classNames, mpp: o.mpp, threshold: o.threshold };
  if (o.format === 'web' && existsSync(out) && !statSync(out).isDirectory()) {
    throw new UsageError(`${out}: not a folder (--format web writes a folder)`, 'patho export');
  }
  try {
    if (o.format === 'web') {
      const files = await writeWebSite(o.model, out, options);
      process.stdout.write(
        `${o.model} -> ${out} (${files.length} files: index.html, model.onnx, the page's scripts, ONNX Runtime Web, OpenSeadragon); ` +
          `serve the folder with any static web server, e.g. python3 -m http.server -d ${out}\n`,
      );
    } else {
      const metadata = await exportOnnx(o.model, out, options);
      process.stdout.write(`${o.model} -> ${out} (ONNX, ${Object.entries(metadata).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
    }
  } catch (e) {
    if (e instanceof OnnxExportError) throw new UsageError(`${o.model}: ${e.message}`, 'patho export');
    throw e;
  }
  return 0;
}
