/** `--model` of predict and eval: one checkpoint, a comma-separated list, or a folder (an ensemble, infer/ensemble.ts). */
import { existsSync } from 'node:fs';
import { modelFiles } from '../infer/ensemble.js';
import { UsageError } from './args.js';

/** The checkpoint files `--model` names; a name that does not exist is a usage error (exit 2). */
export function modelOption(spec: string, program: string): string[] {
  for (const entry of spec.split(',').map((s) => s.trim())) {
    if (entry && !existsSync(entry)) throw new UsageError(`--model ${entry}: no such file`, program);
  }
  return modelFiles(spec);
}
