/** `patho export`: a checkpoint as an ONNX model (see src/export/onnx.ts). */
import { existsSync } from 'node:fs';
import { exportOnnx, OnnxExportError } from '../export/onnx.js';
import { UsageError } from './args.js';
import type { ExportOptions } from './commands.js';

export async function exportCommand(o: ExportOptions, positionals: string[]): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho export');
  if (positionals.length !== 1) throw new UsageError(`expected one output file, got ${positionals.length}`, 'patho export');
  const out = positionals[0];
  let metadata: Record<string, string>;
  try {
    metadata = await exportOnnx(o.model, out, { classNames: o.classNames, mpp: o.mpp, threshold: o.threshold });
  } catch (e) {
    if (e instanceof OnnxExportError) throw new UsageError(`${o.model}: ${e.message}`, 'patho export');
    throw e;
  }
  process.stdout.write(`${o.model} -> ${out} (ONNX, ${Object.entries(metadata).map(([k, v]) => `${k}=${v}`).join(', ')})\n`);
  return 0;
}
