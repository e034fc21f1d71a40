/** `patho train`: a U-Net from a folder of images and masks to data/model.pt. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader } from '../data/loader.js';
import { classCount } from '../data/masks.js';
import { UNet } from '../models/unet.js';
import { cuda, manualSeed, setNumThreads } from '../tensor/runtime.js';
import { Model, type EpochRecord } from '../train/model.js';
import { UsageError } from './args.js';
import type { TrainOptions } from './commands.js';
import { parseDevices } from './devices.js';
import { worldFromEnv } from '../parallel/env.js';
import { ProcessGroup } from '../parallel/group.js';
import { launchWorkers } from '../parallel/launch.js';
import { reportAfterTraining } from '../report/index.js';
import { formatPlan, planFolder, type Plan } from '../plan/index.js';
import { applyPlan, givenOptions, readPlan } from '../plan/apply.js';
import { validationOf } from './plan.js';

/** @param given the options given on the command line (camelCase); a plan fills in the others */
export async function trainCommand(options: TrainOptions, given: readonly string[] = []): Promise<number> {
  let o = options;
  let plan: Plan | null = null;
  if (!existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho train');
  if (o.val && !existsSync(o.val)) throw new UsageError(`--val ${o.val}: no such folder`, 'patho train');
  if (o.resume && !existsSync(join(o.out, 'last.pt'))) {
    throw new UsageError(`--resume: no checkpoint at ${join(o.out, 'last.pt')} to resume from (train into that --out first)`, 'patho train');
  }
  // a job of one process (an interactive `srun`, torchrun --nproc 1) needs no
  // process group, and its --devices may still ask for several workers
  const found = worldFromEnv();
  const world = found && found.worldSize > 1 ? found : null;
  let device: string;
  let group: ProcessGroup | undefined;
  if (world) {
    // a worker of a multi-process job (started by our launcher, torchrun or SLURM)
    device = process.env.PATHO_DEVICE ?? (cuda.deviceCount() > 0 ? `cuda:${world.localRank % cuda.deviceCount()}` : 'cpu');
    // a job started by our launcher trains with its plan; one started elsewhere (torchrun, SLURM)
    // plans on every rank without measuring, so that all ranks plan alike
    if (o.plan) plan = (await planFor(o, given, device, { measure: false, file: process.env.PATHO_PLAN }))?.plan ?? null;
    group = ProcessGroup.init({ ...world, backend: device.startsWith('cuda') ? 'nccl' : 'gloo', timeoutMs: o.distTimeout * 1000 });
    // torchrun gives its workers OMP_NUM_THREADS (1 by default) so that N of
    // them do not each take every core; our own launcher sets PATHO_NUM_THREADS
    const ompThreads = Number(process.env.OMP_NUM_THREADS);
    if (!process.env.PATHO_NUM_THREADS && Number.isInteger(ompThreads) && ompThreads > 0) setNumThreads(ompThreads);
  } else {
    const parsed = parseDevices(o.devices, cuda.deviceCount());
    const devices = o.nproc !== undefined && parsed.devices.length === 1 ? Array(o.nproc).fill(parsed.devices[0]) : parsed.devices;
    if (o.plan) {
      if (o.threads > 0) setNumThreads(o.threads);
      const planned = await planFor(o, given, devices[0], { measure: true });
      plan = planned?.plan ?? null;
      // the workers read this plan instead of measuring again
      if (planned) process.env.PATHO_PLAN = planned.path;
    }
    if (devices.length > 1) {
      return launchWorkers({
        devices,
        command: [process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
        // the survivors of a failed rank report it themselves within the timeout
        graceMs: o.distTimeout * 1000,
      });
    }
    device = devices[0];
  }
  if (plan) o = applyPlan(o, plan, given);
  if (o.threads > 0) setNumThreads(o.threads);
  manualSeed(o.seed);

  const validation = validationOf(o);
  const loader = new DataLoader(o.data, o.images, o.masks, {
    batchSize: o.batchSize,
    patchSize: o.patch > 0 ? o.patch : undefined,
    foregroundOversample: o.foregroundOversample,
    augment: (o.preset as 'em' | 'he' | 'rigid' | 'none' | undefined) ?? 'auto',
    seed: o.seed,
    workers: o.workers,
    rank: world?.rank,
    worldSize: world?.worldSize,
    foreground: o.foreground,
    skipBad: o.skipBad,
    validation,
  });
  try {
    await loader.open();
    const net = new UNet({
      inChannels: loader.dataset.channels,
      // one sigmoid output for a binary mask, a softmax over classes otherwise
      classes: classCount(o.foreground) === 2 ? 1 : classCount(o.foreground),
      depth: o.depth,
      baseChannels: o.baseChannels,
      batchNorm: o.batchNorm,
      upsample: o.upsample as 'bilinear' | 'transpose',
      padding: o.padding as 'same' | 'valid',
      dropout: o.dropout,
    });
    const model = new Model(net, {
      lr: o.lr,
      optimizer: o.optimizer as 'sgd' | 'adam',
      momentum: o.momentum,
      loss: o.loss as 'bce' | 'bce-jaccard' | 'dice' | 'bce-dice',
      modelPath: join(o.out, 'model.pt'),
      plan,
      device,
      amp: o.amp ? 'bfloat16' : null,
      memoryFormat: o.channelsLast ? 'channelsLast' : 'contiguous',
      schedule: o.schedule as 'none' | 'cosine' | 'poly' | 'step',
      group,
    });
    if (!world || world.rank === 0) process.stderr.write(
      `patho train: ${loader.dataset.entries.length} training images from ${o.data}, ` +
        `U-Net depth ${o.depth} base ${o.baseChannels} (${(net.parameterCount() / 1e6).toFixed(2)} M parameters) on ${device}\n`,
    );
    const records = await model.train(loader, {
      epochs: o.epochs,
      thresholds: o.thresholds,
      earlyStop: o.earlyStop,
      maxMinutes: o.maxMinutes,
      validateEvery: o.valEvery,
      checkpointEvery: o.checkpointEvery,
      resume: o.resume,
      outDir: o.out,
    });
    if (!world || world.rank === 0) printSummary(records, join(o.out, 'model.pt'));
    model.dispose();
    if (!world || world.rank === 0) await reportAfterTraining(o.out, { device });
    return 0;
  } finally {
    group?.destroy();
    await loader.close();
  }
}

/**
 * The run's plan: the launcher's (`file`), the one in --out on --resume (the
 * run must stay what it was; none if it was trained without one), or a new
 * one, written to OUT/plan.json and printed with its time estimate.
 */
async function planFor(o: TrainOptions, given: readonly string[], device: string, how: { measure: boolean; file?: string }): Promise<{ plan: Plan; path: string } | null> {
  const path = join(o.out, 'plan.json');
  if (how.file) return { plan: readPlan(how.file), path: how.file };
  if (o.resume) return existsSync(path) ? { plan: readPlan(path), path } : null;
  const plan = await planFolder({
    root: o.data,
    images: o.images,
    masks: o.masks,
    foreground: o.foreground,
    skipBad: o.skipBad,
    validation: validationOf(o),
    device,
    given: givenOptions(o, given),
    measure: how.measure,
  });
  const world = worldFromEnv();
  if (!world || world.rank === 0) {
    mkdirSync(o.out, { recursive: true });
    writeFileSync(path, JSON.stringify(plan, null, 2) + '\n');
    process.stderr.write(formatPlan(plan, o.data) + `plan written to ${path}\n`);
  }
  return { plan, path };
}

function printSummary(records: EpochRecord[], modelPath: string): void {
  const best = records.filter((r) => r.best).pop() ?? records[records.length - 1];
  if (!best) return;
  const seconds = records.reduce((s, r) => s + r.seconds, 0);
  const scores = Object.entries(best.dice).map(([t, d]) => `Dice@${t} ${d.toFixed(4)}`).join(', ');
  process.stdout.write(
    `best epoch ${best.epoch}${scores ? `: ${scores}` : ''}` +
      (Object.keys(best.backgroundDice).length ? `, background Dice@${Object.keys(best.backgroundDice)[0]} ${Object.values(best.backgroundDice)[0].toFixed(4)}` : '') +
      `; ${records.length} epochs in ${(seconds / 60).toFixed(1)} min; model at ${modelPath}\n`,
  );
}
