/** `patho train`: a U-Net from a folder of images and masks to data/model.pt. */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IGNORE_LABEL } from '../data/ignore.js';
import { DataLoader } from '../data/loader.js';
import { classCount } from '../data/masks.js';
import { UNet, UNET_LIMITS } from '../models/unet.js';
import { removeOrphanedTemporaries, writeFileAtomic } from '../io/atomic.js';
import { ProcessGroup } from '../parallel/group.js';
import { reportAfterTraining } from '../report/index.js';
import { cuda, manualSeed } from '../tensor/runtime.js';
import { worldFromEnv } from '../parallel/env.js';
import { formatPlan, type Plan } from '../plan/index.js';
import { applyPlan, givenOptions, readPlan } from '../plan/apply.js';
import { parseDevices } from './devices.js';
import { planData, validationOf } from './plan.js';
import { Model, TrainingInterrupted, type EpochRecord } from '../train/model.js';
import { SlideLoader } from '../wsi/loader.js';
import { foldFolder } from '../infer/ensemble.js';
import { UsageError } from './args.js';
import { TRAIN, type TrainOptions } from './commands.js';
import { ampFor } from './amp.js';
import { withConfig } from './config.js';
import { checkFoldOptions, sharedNormalization, trainAllFolds } from './folds.js';
import { foregroundOption } from './foreground.js';
import { ensureWritableFolder } from './output.js';
import { stopOnSignals } from './signals.js';
import { startUp } from './startup.js';
import { tuneAfterTraining } from './tune.js';

/** @param givenOnCommandLine the options given on the command line (camelCase); --config and a plan fill in the others */
export async function trainCommand(parsed: TrainOptions, givenOnCommandLine: readonly string[] = []): Promise<number> {
  const configured = withConfig(parsed, givenOnCommandLine, TRAIN);
  const given = configured.given;
  checkFoldOptions(configured.options);
  if (configured.options.folds !== undefined && configured.options.fold === undefined) {
    if (!existsSync(configured.options.data)) throw new UsageError(`--data ${configured.options.data}: no such folder`, 'patho train');
    ensureWritableFolder(configured.options.out, '--out', 'patho train');
    return trainAllFolds(configured.options, given, foregroundOption(configured.options.foreground, 'patho train').spec ?? null);
  }
  // one fold of a cross-validation writes into OUT/fold-I
  const options = configured.options.fold === undefined ? configured.options : { ...configured.options, out: foldFolder(configured.options.out, configured.options.fold) };
  if (!options.slides && !existsSync(options.data)) throw new UsageError(`--data ${options.data}: no such folder`, 'patho train');
  const annotations = options.slides ? options.annotations ?? join(dirname(resolve(options.slides)), 'annotations') : null;
  if (options.slides) checkSlideOptions(options, annotations!);
  const foreground = foregroundOption(options.foreground, 'patho train');
  if (options.val && !existsSync(options.val)) throw new UsageError(`--val ${options.val}: no such folder`, 'patho train');
  // a fold reads its input as every other fold does (folds.ts); undefined: not a fold, the training images' own statistics
  const foldNormalization = options.fold !== undefined ? await sharedNormalization(options, foreground.spec ?? null) : undefined;
  if (options.resume && !existsSync(join(options.out, 'last.pt'))) {
    throw new UsageError(`--resume: no checkpoint at ${join(options.out, 'last.pt')} to resume from (train into that --out first)`, 'patho train');
  }
  // rank 0 writes the checkpoints; a launcher checks for it before it starts any rank
  const job = worldFromEnv();
  if (!job || job.worldSize === 1 || job.rank === 0) ensureWritableFolder(options.out, '--out', 'patho train');
  // planned before start-up, which may launch the workers: they read this plan instead of measuring again
  // the planner fingerprints a folder of images and masks; slides are not planned (yet)
  const plan = options.plan && !options.slides ? await planRun(options, given) : null;
  const o = plan ? applyPlan(options, plan, given) : options;
  // an epoch count only when one was given or planned: otherwise Model.train's
  // own default applies (the budget alone with --max-minutes, else 50), not the
  // parser's default that stands in for it in --help
  const epochs = plan || given.includes('epochs') ? o.epochs : undefined;
  const widest = o.baseChannels * 2 ** o.depth;
  if (widest > UNET_LIMITS.widestChannels) {
    throw new UsageError(
      `--base-channels ${o.baseChannels} with --depth ${o.depth}: the widest level would have ${widest} channels, more than ${UNET_LIMITS.widestChannels}`,
      'patho train',
    );
  }
  const started = await startUp(o, 'patho train');
  if ('exitCode' in started) return started.exitCode;
  const { device, world } = started;
  const main = !world || world.rank === 0;
  const group = world ? ProcessGroup.init({ ...world, backend: device.startsWith('cuda') ? 'nccl' : 'gloo', timeoutMs: o.distTimeout * 1000 }) : undefined;
  manualSeed(o.seed);
  if (main) {
    const orphans = removeOrphanedTemporaries(o.out);
    if (orphans.length) process.stderr.write(`patho train: removed ${orphans.length} temporary file(s) a killed run left in ${o.out}: ${orphans.join(', ')}\n`);
  }
  const stop = stopOnSignals({ program: 'patho train', verbose: main, worker: world !== null });

  const validation = validationOf(o);
  const loader = o.slides ? slideLoader(o, annotations!, world) : new DataLoader(o.data, o.images, o.masks, {
    normalize: foldNormalization === undefined ? 'auto' : foldNormalization ?? 'none',
    batchSize: o.batchSize,
    patchSize: o.patch > 0 ? o.patch : undefined,
    foregroundOversample: o.foregroundOversample,
    downsample: o.downsample,
    augment: (o.preset as 'em' | 'he' | 'rigid' | 'none' | undefined) ?? 'auto',
    seed: o.seed,
    workers: o.workers,
    rank: world?.rank,
    worldSize: world?.worldSize,
    foreground: foreground.spec,
    classNames: foreground.names ?? undefined,
    skipBad: o.skipBad,
    validation,
  });
  try {
    await loader.open();
    const classCountWithBackground = loader instanceof SlideLoader ? loader.dataset.numClasses : classCount(foreground.spec);
    // one sigmoid output for a binary mask, a softmax over classes otherwise
    const outputs = classCountWithBackground === 2 ? 1 : classCountWithBackground;
    const net = new UNet({
      inChannels: loader.dataset.channels,
      classes: outputs,
      depth: o.depth,
      baseChannels: o.baseChannels,
      batchNorm: o.batchNorm,
      upsample: o.upsample as 'bilinear' | 'transpose',
      padding: o.padding as 'same' | 'valid',
      dropout: o.dropout,
    });
    const model = new Model(net, {
      lr: o.lr,
      optimizer: o.optimizer,
      momentum: o.momentum,
      loss: outputs > 1 ? 'cross-entropy' : o.loss,
      ignoreIndex: loader instanceof SlideLoader ? IGNORE_LABEL : undefined,
      modelPath: join(o.out, 'model.pt'),
      device,
      amp: ampFor(o.amp, device, { command: 'patho train', warn: main ? undefined : () => {} }),
      memoryFormat: o.channelsLast ? 'channelsLast' : 'contiguous',
      schedule: o.schedule,
      group,
      syncBatchNorm: o.syncBn,
      plan,
    });
    if (main) process.stderr.write(
      `patho train: ${describeTrainingData(loader, o)}, ` +
        `U-Net depth ${o.depth} base ${o.baseChannels} (${(net.parameterCount() / 1e6).toFixed(2)} M parameters) on ${device}\n`,
    );
    let records: EpochRecord[];
    try {
      records = await model.train(loader, {
        epochs,
        thresholds: o.thresholds,
        earlyStop: o.earlyStop,
        maxMinutes: o.maxMinutes,
        validateEvery: o.valEvery,
        checkpointEvery: o.checkpointEvery,
        resume: o.resume,
        outDir: o.out,
        signal: stop.signal,
      });
    } catch (error) {
      if (!(error instanceof TrainingInterrupted)) throw error;
      if (main) process.stderr.write(`patho train: ${error.message}\nto continue: ${resumeCommand()}\n`);
      return error.reason === 'SIGTERM' ? 143 : 130;
    } finally {
      model.dispose();
    }
    if (main) printSummary(records, join(o.out, 'model.pt'));
    // the post-processing is chosen before the report, which then describes the model as predict will use it
    if (main && o.tune && !o.slides) await tuneAfterTraining(join(o.out, 'model.pt'), device);
    if (main) await reportAfterTraining(o.out, { device });
    return 0;
  } finally {
    stop.release();
    group?.destroy();
    await loader.close();
  }
}

function checkSlideOptions(o: TrainOptions, annotations: string): void {
  if (!existsSync(o.slides!)) throw new UsageError(`--slides ${o.slides}: no such folder`, 'patho train');
  if (!existsSync(annotations)) {
    throw new UsageError(`--annotations ${annotations}: no such folder${o.annotations ? '' : ' (the default beside --slides; name the GeoJSON folder with --annotations)'}`, 'patho train');
  }
  if (o.patch <= 0) throw new UsageError('--patch 0 (whole images) does not apply to --slides: give the patch side in pixels', 'patho train');
  if (o.downsample !== 1) throw new UsageError(`--downsample ${o.downsample} applies to folders of images; slides train at the resolution --mpp gives`, 'patho train');
}

/** The loader over annotated slides: patches of --patch pixels at --mpp, unlabelled pixels as --unlabelled says. */
function slideLoader(o: TrainOptions, annotations: string, world: { rank: number; worldSize: number } | null): SlideLoader {
  return new SlideLoader(o.slides!, annotations, {
    batchSize: o.batchSize,
    patchSize: o.patch,
    mpp: o.mpp,
    classes: o.classes,
    unlabelled: o.unlabelled as 'ignore' | 'background',
    samplesPerEpoch: o.samplesPerEpoch,
    validationSlides: o.valSlides,
    augment: (o.preset as 'em' | 'he' | 'rigid' | 'none' | undefined) ?? 'auto',
    seed: o.seed,
    workers: o.workers,
    rank: world?.rank,
    worldSize: world?.worldSize,
    skipBad: o.skipBad,
  });
}

/** The start-of-run line about the data: what is trained on, and for slides the classes and resolution. */
function describeTrainingData(loader: DataLoader | SlideLoader, o: TrainOptions): string {
  if (!(loader instanceof SlideLoader)) return `${loader.dataset.entries.length} training images from ${o.data}`;
  const { classes, entries } = loader.dataset;
  return (
    `${entries.length} training slide(s) from ${o.slides}, classes ${classes.names.map((n, i) => `${i + 1} ${n}`).join(', ')} (0 background), ` +
    `unannotated pixels ${classes.unlabelled === 'ignore' ? 'ignored' : 'background'}, ${loader.length} batches of ${o.patch} px patches per epoch ` +
    (loader.mpp ? `at ${loader.mpp} um/px` : 'at level 0')
  );
}

/**
 * The run's plan: the launcher's (PATHO_PLAN, in its workers), the one in
 * --out on --resume (the run must stay what it was; none if it was trained
 * without one), or a new one, written to OUT/plan.json and printed with its
 * time estimate. Workers of a job started elsewhere (torchrun, SLURM) plan
 * without measuring, so that every rank plans alike.
 */
async function planRun(o: TrainOptions, given: readonly string[]): Promise<Plan | null> {
  const found = worldFromEnv();
  const worker = found !== null && found.worldSize > 1;
  if (worker && process.env.PATHO_PLAN) return readPlan(process.env.PATHO_PLAN);
  const path = join(o.out, 'plan.json');
  if (o.resume) return existsSync(path) ? readPlan(path) : null;
  // the first device of --devices, as start-up will choose it (a worker's kind is all the plan needs)
  const device = worker ? (process.env.PATHO_DEVICE ?? (cuda.deviceCount() > 0 ? 'cuda:0' : 'cpu')) : parseDevices(o.devices, cuda.deviceCount()).devices[0];
  const plan = await planData(o, device, givenOptions(o, given), !worker);
  if (!worker || found.rank === 0) {
    mkdirSync(o.out, { recursive: true });
    // atomic, as the checkpoints: a killed start never leaves half a plan for --resume to read
    await writeFileAtomic(path, (write) => write(new TextEncoder().encode(JSON.stringify(plan, null, 2) + '\n')));
    process.stderr.write(formatPlan(plan, o.data) + `plan written to ${path}\n`);
  }
  if (!worker) process.env.PATHO_PLAN = path;
  return plan;
}

/** This command line with --resume, to continue a stopped run. */
function resumeCommand(): string {
  const args = process.argv.slice(2);
  if (!args.includes('--resume')) args.push('--resume');
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['patho', ...args].map(quote).join(' ');
}

function printSummary(records: EpochRecord[], modelPath: string): void {
  const best = records.filter((r) => r.best).pop() ?? records[records.length - 1];
  if (!best) return;
  const seconds = records.reduce((s, r) => s + r.seconds, 0);
  const scores = Object.entries(best.dice).map(([t, d]) => `Dice@${t} ${d.toFixed(4)}`).join(', ');
  process.stdout.write(
    `best epoch ${best.epoch}${scores ? `: ${scores}` : ''}` +
      (Object.keys(best.backgroundDice).length ? `, background Dice@${Object.keys(best.backgroundDice)[0]} ${Object.values(best.backgroundDice)[0].toFixed(4)}` : '') +
      (best.sweep ? `; threshold ${best.sweep.threshold} (the validation sweep's best, Dice ${best.sweep.dice.toFixed(4)})` : '') +
      `; ${records.length} epochs in ${(seconds / 60).toFixed(1)} min; model at ${modelPath}\n`,
  );
}
