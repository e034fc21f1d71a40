/**
 * `patho train --folds K`: k-fold cross-validation. `--fold I` is one run that
 * validates on fold I (data/split.ts's `foldNames`) and trains on the others,
 * into OUT/fold-I. `--folds K` alone runs the K folds one after another, each
 * as its own `patho train --folds K --fold I` process (so a fold is exactly
 * the run its own command line makes: its devices, its report, its
 * --resume), all replaying one plan made before the first (OUT/plan.json),
 * then prints each fold's best validation Dice and their mean.
 * Every fold normalises its input with the statistics of all the images, as
 * nnU-Net fingerprints the whole data set before splitting it: the K models
 * then read their input alike, which an ensemble needs (infer/ensemble.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader } from '../data/loader.js';
import type { ForegroundSpec } from '../data/masks.js';
import type { ChannelStats } from '../data/normalize.js';
import { foldFolder } from '../infer/ensemble.js';
import { worldFromEnv } from '../parallel/env.js';
import { writeFileAtomic } from '../io/atomic.js';
import { givenOptions } from '../plan/apply.js';
import { DEFAULT_MINUTES, formatPlan } from '../plan/index.js';
import { cuda } from '../tensor/runtime.js';
import { parseDevices } from './devices.js';
import { planData } from './plan.js';
import { disposeCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import { UsageError } from './args.js';
import type { TrainOptions } from './commands.js';

/** Checks --folds/--fold before anything runs: exit 2 for a fold out of range, --fold without --folds, --resume of all folds. */
export function checkFoldOptions(o: TrainOptions): void {
  if (o.fold !== undefined && o.folds === undefined) throw new UsageError(`--fold ${o.fold} needs --folds K (the number of folds it is one of)`, 'patho train');
  if (o.folds === undefined) return;
  if (o.fold !== undefined && o.fold >= o.folds) {
    throw new UsageError(`--fold ${o.fold} is out of range: with --folds ${o.folds} the folds are 0 to ${o.folds - 1}`, 'patho train');
  }
  if (o.fold === undefined && o.resume) throw new UsageError('--resume continues one fold: add --fold I (then run the folds after it)', 'patho train');
  const job = worldFromEnv();
  if (o.fold === undefined && job && job.worldSize > 1) {
    throw new UsageError('--folds without --fold under torchrun or SLURM: start one job per fold, with --fold I', 'patho train');
  }
}

/**
 * The normalisation every fold shares: per-channel statistics of all the
 * images (training and validation of every fold).
 */
export async function sharedNormalization(o: TrainOptions, foreground: ForegroundSpec | null): Promise<ChannelStats | null> {
  const all = await allImages(o, foreground);
  try {
    return await all.stats();
  } finally {
    await all.close();
  }
}

/** A loader over every image of --data, opened (so checked), refused with exit 2 when there are fewer images than folds. */
async function allImages(o: TrainOptions, foreground: ForegroundSpec | null): Promise<DataLoader> {
  const all = new DataLoader(o.data, o.images, o.masks, { batchSize: 1, workers: o.workers, foreground: foreground ?? undefined, skipBad: o.skipBad, shuffle: false });
  try {
    await all.open();
  } catch (error) {
    await all.close();
    throw error;
  }
  const count = all.dataset.entries.length;
  if (count < o.folds!) {
    await all.close();
    throw new UsageError(`--folds ${o.folds}: ${o.data} has ${count} image(s); every fold needs one to validate on`, 'patho train');
  }
  return all;
}

/** What a fold's budget is, as printed before the folds start. */
function budgetPerFold(o: TrainOptions, given: readonly string[]): string {
  if (given.includes('maxMinutes')) return `--max-minutes ${o.maxMinutes} per fold, about ${o.folds! * o.maxMinutes!} minutes in all`;
  if (given.includes('epochs')) return `--epochs ${o.epochs} per fold`;
  if (o.plan) return `the planned ${DEFAULT_MINUTES}-minute budget per fold, about ${o.folds! * DEFAULT_MINUTES} minutes in all`;
  return `${o.epochs} epochs per fold (--no-plan)`;
}

/**
 * Trains folds 0 .. K-1 in turn as child processes of this command line plus
 * `--fold I`, then prints and writes (OUT/cross-validation.json) the folds'
 * best validation Dice and their mean. A fold that fails or is interrupted
 * ends the run with its exit code. Ctrl-C reaches the fold from the terminal
 * (one process group); a SIGTERM sent to this process is passed on to it.
 */
export async function trainAllFolds(
  o: TrainOptions, given: readonly string[], foreground: ForegroundSpec | null, argv: readonly string[] = process.argv.slice(2),
): Promise<number> {
  const folds = o.folds!;
  // the data checked, and enough images for the folds, before the first fold starts
  await (await allImages(o, foreground)).close();
  const plan = await sharedPlan(o, given);
  const foldArgs = plan ? [...argv, '--config', plan] : [...argv];
  process.stderr.write(
    `patho train: ${folds}-fold cross-validation of ${o.data} (folds dealt by --seed ${o.seed}): the folds one after another, ` +
      `each a run of its own into ${join(o.out, 'fold-I')} with ${budgetPerFold(o, given)}\n`,
  );
  const scores: { fold: number; bestDice: number | null; model: string }[] = [];
  for (let fold = 0; fold < folds; fold++) {
    process.stderr.write(`patho train: fold ${fold} of 0..${folds - 1}\n`);
    const code = await runFold([...foldArgs, '--fold', String(fold)]);
    if (code !== 0) {
      const resume = code === 130 || code === 143 ? `; to continue it: patho ${[...foldArgs, '--fold', String(fold), '--resume'].join(' ')}, then the folds after it` : '';
      process.stderr.write(`patho train: fold ${fold} ended with exit code ${code}${resume}\n`);
      return code;
    }
    const model = join(foldFolder(o.out, fold), 'model.pt');
    scores.push({ fold, bestDice: existsSync(model) ? await bestDiceOf(model) : null, model });
  }
  const known = scores.map((s) => s.bestDice).filter((d): d is number => d !== null);
  const mean = known.length === folds ? known.reduce((a, b) => a + b, 0) / folds : null;
  const summary = { folds, seed: o.seed, data: o.data, scores, meanBestDice: mean };
  writeFileSync(join(o.out, 'cross-validation.json'), JSON.stringify(summary, null, 2) + '\n');
  process.stdout.write(
    `cross-validation, ${folds} folds, best validation Dice: ` +
      scores.map((s) => `fold ${s.fold} ${s.bestDice === null ? 'n/a' : s.bestDice.toFixed(4)}`).join(', ') +
      `; mean ${mean === null ? 'n/a' : mean.toFixed(4)}\n` +
      `the ${folds} models predict together as an ensemble: patho predict --model ${o.out} IMAGES\n`,
  );
  return 0;
}

/**
 * One plan for every fold, so that the folds differ in their data only: made
 * once (for fold 0's split; the folds' sizes differ by one image at most),
 * written to OUT/plan.json and replayed by each fold with --config. None with
 * --no-plan, or when a --config of the user's is replayed by every fold already.
 */
async function sharedPlan(o: TrainOptions, given: readonly string[]): Promise<string | null> {
  if (!o.plan || o.config) return null;
  const device = parseDevices(o.devices, cuda.deviceCount()).devices[0];
  const plan = await planData({ ...o, fold: 0 } as TrainOptions, device, givenOptions(o, given));
  const path = join(o.out, 'plan.json');
  await writeFileAtomic(path, (write) => write(new TextEncoder().encode(JSON.stringify(plan, null, 2) + '\n')));
  process.stderr.write(formatPlan(plan, o.data) + `plan written to ${path}; every fold replays it (--config ${path})\n`);
  return path;
}

/** `patho ...args` as a child process with this process's terminal; resolves with its exit code (128 + n for a signal). */
function runFold(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], { stdio: 'inherit' });
    const passOn = () => child.kill('SIGTERM');
    // Ctrl-C already reaches the child from the terminal; this process only waits for it to stop
    const waitForChild = () => undefined;
    process.on('SIGTERM', passOn);
    process.on('SIGINT', waitForChild);
    const release = () => {
      process.off('SIGTERM', passOn);
      process.off('SIGINT', waitForChild);
    };
    child.on('error', (error) => {
      release();
      reject(error);
    });
    child.on('exit', (code, signal) => {
      release();
      resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
    });
  });
}

/** The best validation Dice a fold's model.pt records. */
async function bestDiceOf(path: string): Promise<number | null> {
  const checkpoint = await loadCheckpoint(path);
  disposeCheckpoint(checkpoint);
  return checkpoint.meta.bestDice ?? null;
}
