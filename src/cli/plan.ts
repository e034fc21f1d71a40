/** `patho plan`: the training plan for a folder, this machine and a time budget. */
import { existsSync } from 'node:fs';
import type { ValidationSpec } from '../data/split.js';
import { formatPlan, planFolder, type Plan, type PlanFolderOptions } from '../plan/index.js';
import { cuda, setNumThreads } from '../tensor/runtime.js';
import { UsageError } from './args.js';
import type { PlanOptions } from './commands.js';
import { parseDevices } from './devices.js';
import { foregroundOption } from './foreground.js';

export async function planCommand(o: PlanOptions): Promise<number> {
  if (!existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho plan');
  if (o.val && !existsSync(o.val)) throw new UsageError(`--val ${o.val}: no such folder`, 'patho plan');
  // a plan is per device: several processes each run the plan of their own device
  const device = parseDevices(o.devices, cuda.deviceCount()).devices[0];
  const plan = await planData(o, device, o.maxMinutes !== undefined ? { maxMinutes: o.maxMinutes } : {});
  process.stdout.write(o.json ? JSON.stringify(plan, null, 2) + '\n' : formatPlan(plan, o.data));
  return 0;
}

/** What planning reads of the options of patho plan and patho train. */
type DataOptions = Pick<PlanOptions, 'data' | 'images' | 'masks' | 'foreground' | 'skipBad' | 'threads' | 'val' | 'valNames' | 'valSplit' | 'seed'>;

/** The plan for the folder and validation split the options name, on `device` (timed with --threads unless `measure` is false). */
export function planData(o: DataOptions, device: string, given: PlanFolderOptions['given'], measure = true): Promise<Plan> {
  if (o.threads > 0) setNumThreads(o.threads);
  return planFolder({
    root: o.data,
    images: o.images,
    masks: o.masks,
    foreground: foregroundOption(o.foreground, 'patho plan').spec,
    skipBad: o.skipBad,
    validation: validationOf(o),
    device,
    given,
    measure,
  });
}

/** The validation spec of --val, --val-names or --val-split (as patho train reads them). */
export function validationOf(o: { val?: string; valNames?: string[]; valSplit: number; seed: number; folds?: number; fold?: number }): ValidationSpec | undefined {
  if (o.val) return { root: o.val };
  if (o.folds !== undefined && o.fold !== undefined) return { folds: o.folds, fold: o.fold, seed: o.seed };
  if (o.valNames) return { names: o.valNames };
  return o.valSplit > 0 ? { fraction: o.valSplit, seed: o.seed } : undefined;
}
