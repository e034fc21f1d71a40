/** `patho predict`: masks (and probability maps, overlays) for images, named after the inputs. */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/dataset.js';
import { readImageForInference } from '../infer/image.js';
import { labelsFrom, writeMaskPng, writeOverlayPng, writeProbabilityPng } from '../infer/outputs.js';
import { predictSliding } from '../infer/sliding.js';
import { loadTrainedNet } from '../infer/trained.js';
import { cuda, setNumThreads } from '../tensor/runtime.js';
import { UsageError } from './args.js';
import type { PredictOptions } from './commands.js';
import { parseDevices } from './devices.js';
import { ProgressBar } from './progress.js';

/** Image files named on the command line, folders expanded (sorted). */
export function expandInputs(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (!existsSync(input)) throw new UsageError(`${input}: no such file or folder`, 'patho predict');
    if (statSync(input).isDirectory()) {
      const found = readdirSync(input)
        .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(input, f));
      if (found.length === 0) throw new UsageError(`${input}: no images (${IMAGE_EXTENSIONS.join(', ')}) in this folder`, 'patho predict');
      files.push(...found);
    } else {
      files.push(input);
    }
  }
  return files;
}

export async function predictCommand(o: PredictOptions, inputs: string[]): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho predict');
  const files = expandInputs(inputs);
  const device = parseDevices(o.devices, cuda.deviceCount()).devices[0];
  if (o.threads > 0) setNumThreads(o.threads);
  const { net, meta } = await loadTrainedNet(o.model, { device });
  mkdirSync(o.out, { recursive: true });
  const bar = new ProgressBar({ total: files.length, label: 'predict', unit: 'images' });
  try {
    for (const file of files) {
      const { raw, image } = await readImageForInference(file, meta.normalization);
      const map = predictSliding(net, image, {
        batchSize: o.batchSize,
        device,
        amp: o.amp ? 'bfloat16' : null,
      });
      const labels = labelsFrom(map, o.threshold);
      const name = basename(file, extname(file));
      await writeMaskPng(join(o.out, `${name}_mask.png`), labels, map.width, map.height, map.classes === 1);
      if (o.probabilities) await writeProbabilityPng(join(o.out, `${name}_prob.png`), map);
      if (o.overlay) await writeOverlayPng(join(o.out, `${name}_overlay.png`), raw, labels);
      bar.tick();
    }
  } finally {
    bar.done();
    net.dispose();
  }
  process.stdout.write(`${files.length} image${files.length === 1 ? '' : 's'} predicted into ${o.out}\n`);
  return 0;
}
