/**
 * Planning a training run: fingerprint the folder, describe the machine,
 * measure a few training steps, decide. `patho plan` prints the result and
 * `patho train` trains with it wherever no option says otherwise.
 */
import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/dataset.js';
import type { ForegroundSpec } from '../data/masks.js';
import { splitNames, type ValidationSpec } from '../data/split.js';
import { cuda } from '../tensor/runtime.js';
import { fingerprintFolder } from './fingerprint.js';
import { describeMachine } from './machine.js';
import { makePlan, type Plan, type PlannedOptions } from './planner.js';
import { stepProbe } from './probe.js';

export { fingerprintFolder, type DataFingerprint } from './fingerprint.js';
export { describeMachine, type MachineInfo } from './machine.js';
export { makePlan, planOptions, DEFAULT_MINUTES, PLAN_FORMAT, type Plan, type PlannedOptions, type PlanRequest } from './planner.js';
export { formatPlan, planArgs } from './format.js';

export interface PlanFolderOptions {
  root: string;
  images?: string;
  masks?: string;
  foreground?: ForegroundSpec;
  skipBad?: boolean;
  validation?: ValidationSpec;
  /** 'cpu' or 'cuda:N' */
  device: string;
  /** options the user gave */
  given?: Partial<PlannedOptions>;
  /** time training steps (false: plan from the data and the machine alone) */
  measure?: boolean;
  probeSeconds?: number;
}

/** Plans training on the folder `root` for `device`. */
export async function planFolder(o: PlanFolderOptions): Promise<Plan> {
  const fingerprint = await fingerprintFolder(o.root, o.images, o.masks, { foreground: o.foreground, skipBad: o.skipBad, onWarning: () => undefined });
  const machine = describeMachine(o.device, cuda.deviceCount());
  const classes = fingerprint.classes === 2 ? 1 : fingerprint.classes;
  return makePlan({
    fingerprint,
    machine,
    ...imageCounts(o.validation, fingerprint.images, o.images ?? 'images'),
    given: o.given,
    measure: o.measure === false ? null : stepProbe({ device: o.device, channels: fingerprint.channels, classes }),
    probeSeconds: o.probeSeconds,
  });
}

/** Images trained and validated on: a fraction as splitNames rounds it, a list of names, a fold (foldNames deals image i to fold i mod K), or another folder's images. */
function imageCounts(spec: ValidationSpec | undefined, images: number, imagesDir: string): { trainImages: number; validationImages: number } {
  if (!spec) return { trainImages: images, validationImages: 0 };
  if ('root' in spec) {
    const files = readdirSync(join(spec.root, spec.images ?? imagesDir));
    return { trainImages: images, validationImages: files.filter((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())).length };
  }
  const validationImages = 'names' in spec
    ? spec.names.length
    : 'folds' in spec
    ? Math.max(0, Math.ceil((images - spec.fold) / spec.folds))
    : splitNames(Array.from({ length: images }, (_, i) => String(i)), spec.fraction, spec.seed).validation.length;
  return { trainImages: images - validationImages, validationImages };
}
