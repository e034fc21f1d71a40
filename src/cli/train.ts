/** `patho train`: a U-Net from a folder of images and masks to data/model.pt. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { IGNORE_LABEL } from '../data/ignore.js';
import { DataLoader } from '../data/loader.js';
import { classCount } from '../data/masks.js';
import type { ValidationSpec } from '../data/split.js';
import { UNet } from '../models/unet.js';
import { removeOrphanedTemporaries, removeTemporariesInFlight } from '../io/atomic.js';
import { worldFromEnv } from '../parallel/env.js';
import { ProcessGroup } from '../parallel/group.js';
import { reportAfterTraining } from '../report/index.js';
import { manualSeed } from '../tensor/runtime.js';
import { Model, TrainingInterrupted, type EpochRecord } from '../train/model.js';
import { SlideLoader } from '../wsi/loader.js';
import { UsageError } from './args.js';
import type { TrainOptions } from './commands.js';
import { ensureWritableFolder } from './output.js';
import { startUp } from './startup.js';

export async function trainCommand(o: TrainOptions): Promise<number> {
  if (!o.slides && !existsSync(o.data)) throw new UsageError(`--data ${o.data}: no such folder`, 'patho train');
  const annotations = o.slides ? o.annotations ?? join(dirname(resolve(o.slides)), 'annotations') : null;
  if (o.slides) checkSlideOptions(o, annotations!);
  if (o.val && !existsSync(o.val)) throw new UsageError(`--val ${o.val}: no such folder`, 'patho train');
  if (o.resume && !existsSync(join(o.out, 'last.pt'))) {
    throw new UsageError(`--resume: no checkpoint at ${join(o.out, 'last.pt')} to resume from (train into that --out first)`, 'patho train');
  }
  // rank 0 writes the checkpoints; a launcher checks for it before it starts any rank
  const job = worldFromEnv();
  if (!job || job.worldSize === 1 || job.rank === 0) ensureWritableFolder(o.out, '--out', 'patho train');
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
  const stop = stopOnSignals(main, world !== null);

  const validation: ValidationSpec | undefined = o.val
    ? { root: o.val }
    : o.valNames
      ? { names: o.valNames }
      : o.valSplit > 0
        ? { fraction: o.valSplit, seed: o.seed }
        : undefined;
  const loader = o.slides ? slideLoader(o, annotations!, world) : new DataLoader(o.data, o.images, o.masks, {
    batchSize: o.batchSize,
    patchSize: o.patch > 0 ? o.patch : undefined,
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
    const classCountWithBackground = loader instanceof SlideLoader ? loader.dataset.numClasses : classCount(o.foreground);
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
      amp: o.amp ? 'bfloat16' : null,
      memoryFormat: o.channelsLast ? 'channelsLast' : 'contiguous',
      schedule: o.schedule,
      group,
    });
    if (main) process.stderr.write(
      `patho train: ${describeTrainingData(loader, o)}, ` +
        `U-Net depth ${o.depth} base ${o.baseChannels} (${(net.parameterCount() / 1e6).toFixed(2)} M parameters) on ${device}\n`,
    );
    let records: EpochRecord[];
    try {
      records = await model.train(loader, {
        epochs: o.epochs,
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
 * Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the current step
 * (train() then writes last.pt and rejects with TrainingInterrupted); a
 * second one exits at once, removing the temporary file of a checkpoint
 * being written. A worker of a multi-process job gets every signal twice
 * (from the terminal and from the launcher), so there only the first counts.
 */
function stopOnSignals(main: boolean, worker: boolean): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      if (main) process.stderr.write(`\npatho train: ${signal}: stopping after the current step and writing last.pt${worker ? '' : ' (again to quit at once)'}\n`);
      controller.abort(signal);
    } else if (!worker) {
      removeTemporariesInFlight();
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
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
      `; ${records.length} epochs in ${(seconds / 60).toFixed(1)} min; model at ${modelPath}\n`,
  );
}
