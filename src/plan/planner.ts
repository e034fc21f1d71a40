/**
 * The planner: from a data fingerprint, the machine and a time budget to the
 * options of `patho train`, each with the one line that says why. Options the
 * user gave are kept and said to be theirs, and the other choices follow from
 * them (a given --base-channels is the width whose step time is measured).
 *
 * Pure logic: step times come from an injected `measure` (the addon's probe in
 * `patho plan`, fixed numbers in tests), and the planner never reads a clock;
 * the probe's own wall time, which it reports, is what limits the probing.
 */
import { TRAINING_DEFAULTS, type OptimizerName, type ScheduleName } from '../train/defaults.js';
import type { DataFingerprint, Spread } from './fingerprint.js';
import type { MachineInfo } from './machine.js';

/** The `patho train` options a plan sets (camelCase, as the parsed command line). */
export interface PlannedOptions {
  maxMinutes: number | null;
  epochs: number;
  batchSize: number;
  patch: number;
  depth: number;
  baseChannels: number;
  optimizer: OptimizerName;
  lr: number;
  schedule: ScheduleName;
  preset: 'em' | 'he' | 'rigid' | 'none';
  foregroundOversample: number;
  valEvery: number;
  checkpointEvery: number;
  amp: boolean;
  channelsLast: boolean;
  workers: number;
  /** the working resolution: images trained and predicted at 1/downsample of their pixels */
  downsample: number;
  /** choose the post-processing on the validation images after training */
  tune: boolean;
}

export type PlannedKey = keyof PlannedOptions;

/** Every option a plan sets, in the order a plan lists them. */
export const PLANNED_KEYS: readonly PlannedKey[] = [
  'maxMinutes', 'epochs', 'batchSize', 'downsample', 'patch', 'depth', 'baseChannels', 'optimizer', 'lr', 'schedule',
  'preset', 'foregroundOversample', 'valEvery', 'checkpointEvery', 'amp', 'channelsLast', 'workers', 'tune',
];

/** Options a plan of an older patho did not have, and the value that reproduces how it trained. */
export const PLAN_ADDITIONS: Partial<{ [K in PlannedKey]: PlannedOptions[K] }> = { downsample: 1, tune: false };

/** One decision: the value, why, and whether the planner or the user made it. */
export interface Choice<T> {
  value: T;
  why: string;
  source: 'plan' | 'given';
}

export type Choices = { [K in PlannedKey]: Choice<PlannedOptions[K]> };

/** A network and batch shape whose training step time the planner may ask for. */
export interface StepCandidate {
  baseChannels: number;
  depth: number;
  patch: number;
  batchSize: number;
  amp: boolean;
  channelsLast: boolean;
}

export interface StepMeasurement {
  /** training seconds per image (forward, backward, optimizer step) */
  secondsPerImage: number;
  /** wall seconds the measurement took (warm-up included): what the probe budget counts */
  seconds: number;
}

export type MeasureStep = (candidate: StepCandidate) => Promise<StepMeasurement>;

export interface PlanRequest {
  fingerprint: DataFingerprint;
  machine: MachineInfo;
  /** images validated on (0 without validation) */
  validationImages: number;
  /** images trained on; default: the fingerprint's less the validation images (a split of one folder) */
  trainImages?: number;
  /** options given on the command line; the plan keeps them */
  given?: Partial<PlannedOptions>;
  /** step-time measurement; null plans without measuring (every rank of a job started elsewhere must plan alike) */
  measure: MeasureStep | null;
  /** wall seconds the probe may spend; default 20, so that `patho plan` stays under 30 s */
  probeSeconds?: number;
}

/** What the plan expects a run to do, from the measured step time. */
export interface PlanEstimate {
  imagesPerSecond: number;
  /** seconds per epoch of training, and of one validation */
  epochSeconds: number;
  validationSeconds: number;
  /** epochs that fit the budget (null without a budget) */
  epochsInBudget: number | null;
  /** optimizer steps in the budget, or in the epochs without one */
  steps: number;
  /** minutes the run takes (the budget, or the epochs' estimated time) */
  minutes: number;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  choices: Choices;
  measurements: (StepCandidate & StepMeasurement)[];
  /** null when nothing could be measured */
  estimate: PlanEstimate | null;
  fingerprint: DataFingerprint;
  machine: MachineInfo;
  validationImages: number;
}

export const PLAN_FORMAT = 'patho-plan-1';

/** The budget of a run given neither --max-minutes nor --epochs: long enough for a useful model, stated up front. */
export const DEFAULT_MINUTES = 10;

/**
 * Optimizer steps a run should get before a wider network is worth its cost:
 * the README's membrane run (Adam 1e-3, batch 4) peaked after about 700 steps.
 */
export const MIN_STEPS = 1000;

/**
 * Patch side a CPU's step time is measured at (then scaled by pixels), with
 * the run's batch: a few seconds per measurement on 2 cores. One 128 px image
 * would not do: on a 2-core AMX Xeon it took 2.3x the per-pixel time of the
 * run's 4 x 256 px batch (bf16, base 32), where 4 x 128 px is within 16%.
 */
export const CPU_PROBE_PATCH = 128;

/** Validations a budgeted run gets at least (when that many epochs fit): the best epoch is chosen among them. */
const MIN_VALIDATIONS = 5;

/** Share of a run spent validating that the validation cadence aims at (at most). */
const VALIDATION_SHARE = 0.1;

/**
 * Receptive field (pixels) of patho's U-Net of `depth` levels: two 3x3
 * convolutions per level on the way down and up, 2x2 pooling between levels,
 * two at the bottom; each adds its reach times the level's scale 2^l:
 * 1 + sum_l (4 + 1 + 4) 2^l + 4 * 2^depth = 13 * 2^depth - 8.
 */
export function receptiveField(depth: number): number {
  return 13 * 2 ** depth - 8;
}

/** Makes the plan; asks `measure` for at most a few step times, within the probe budget. */
export async function makePlan(request: PlanRequest): Promise<Plan> {
  const { fingerprint, machine, given = {} } = request;
  const gpu = machine.kind === 'cuda';
  const keep = <K extends PlannedKey>(key: K, value: PlannedOptions[K], why: string): Choice<PlannedOptions[K]> =>
    given[key] !== undefined ? { value: given[key]!, why: 'given', source: 'given' } : { value, why, source: 'plan' };

  // the structures decide the resolution, then the context: depth for the receptive field, patch to hold them whole
  const downsample = keep('downsample', ...planDownsample(fingerprint, gpu));
  // every size below is at the working resolution
  const fp = atResolution(fingerprint, downsample.value);
  const object = fp.objects.p90Size || 64;
  const depthFit = [4, 5].find((d) => receptiveField(d) >= object) ?? 5;
  const depth = keep(
    'depth',
    depthFit,
    `receptive field ${receptiveField(depthFit)} px: a pixel at the centre of a ${object} px structure (90th percentile) sees all of it` +
      (depthFit === 4 ? " with the U-Net paper's 4 levels" : "; 4 levels see only 200 px"),
  );
  let patch = keep('patch', ...planPatch(fp, object, depth.value));
  const batch = keep(
    'batchSize',
    gpu ? 8 : 4,
    gpu ? '8 patches a step keep a GPU busy and fit any current GPU at this patch size' : 'small batches give more steps per minute on a CPU; 4 keeps batch-norm statistics steady',
  );
  const workers = keep(
    'workers',
    gpu ? Math.min(6, Math.max(1, machine.cores - 1)) : machine.cores <= 4 ? 1 : 2,
    gpu ? 'the GPU waits for decoding and augmentation unless several cores prepare batches' : machine.cores <= 4 ? `one loader thread: on ${machine.cores} cores a second one takes a core from the step` : 'two loader threads keep ahead of a CPU step',
  );

  // measured: precision, then width (and patch)
  const measurements: (StepCandidate & StepMeasurement)[] = [];
  let probeSpent = 0;
  const probeLimit = request.probeSeconds ?? 20;
  // patch 0 trains on whole images: timed at their larger median side
  const sideOf = (p: number) => (p > 0 ? p : roundUp(Math.max(fp.width.median, fp.height.median), 2 ** depth.value));
  /**
   * Step time at `width` and patch side `side`. A CPU is measured with the
   * run's batch on a small patch and scaled by pixels (CPU_PROBE_PATCH); a GPU
   * is measured as it will run. Once the probe's time is spent, a
   * width not measured is estimated from one that was, by the convolutions'
   * cost (the square of the width).
   */
  const timeOf = async (width: number, fast: boolean, side: number): Promise<(StepMeasurement & { estimated: boolean }) | null> => {
    const measuredSide = gpu ? side : Math.min(side, Math.max(CPU_PROBE_PATCH, 4 * 2 ** depth.value));
    const candidate: StepCandidate = { baseChannels: width, depth: depth.value, patch: measuredSide, batchSize: batch.value, amp: fast, channelsLast: fast };
    const scaled = (m: StepMeasurement, factor: number, estimated: boolean) => ({
      secondsPerImage: m.secondsPerImage * factor * (side / measuredSide) ** 2,
      seconds: m.seconds,
      estimated,
    });
    const done = measurements.find((m) => sameCandidate(m, candidate));
    if (done) return scaled(done, 1, false);
    if (request.measure && probeSpent < probeLimit) {
      const measured = await request.measure(candidate);
      probeSpent += measured.seconds;
      measurements.push({ ...candidate, ...measured });
      return scaled(measured, 1, false);
    }
    const other = measurements.find((m) => sameCandidate({ ...m, baseChannels: width }, candidate));
    return other ? scaled(other, (width / other.baseChannels) ** 2, true) : null;
  };

  const budget = planBudget(given);
  const trainImages = request.trainImages ?? Math.max(1, fp.images - request.validationImages);
  const stepsFor = (time: StepMeasurement, side: number) =>
    budget.minutes === null ? null : stepsIn(budget.minutes * 60, time.secondsPerImage, batch.value, trainImages, request.validationImages, fp, side);

  // precision: bfloat16 autocast and channels-last are measured together, against fp32
  const reference = given.baseChannels ?? 32;
  const precisionGiven = given.amp ?? given.channelsLast;
  let fast = false;
  let precisionWhy: string;
  if (precisionGiven !== undefined) {
    fast = precisionGiven;
    precisionWhy = 'follows the precision option given (the two are measured together)';
  } else if (!gpu && !machine.bf16.amx && !machine.bf16.avx512bf16) {
    precisionWhy = 'fp32: this CPU has neither AMX nor AVX512-BF16, so bfloat16 would be emulated, and slower';
  } else {
    const fp32 = await timeOf(reference, false, sideOf(patch.value));
    const bf16 = await timeOf(reference, true, sideOf(patch.value));
    if (fp32 && bf16 && !fp32.estimated && !bf16.estimated) {
      const speedup = fp32.secondsPerImage / bf16.secondsPerImage;
      fast = speedup >= 1.1;
      const rates = `${ms(bf16.secondsPerImage)} vs ${ms(fp32.secondsPerImage)} per image, measured here`;
      precisionWhy = fast
        ? `bfloat16 autocast + channels-last: ${speedup.toFixed(2)}x the fp32 rate (${rates}); on membrane it matched PyTorch's fp32-trained Dice (README)`
        : `fp32: bfloat16 + channels-last ran at ${speedup.toFixed(2)}x the fp32 rate (${rates}), not worth its rounding`;
    } else {
      precisionWhy = request.measure
        ? `fp32: the probe's ${probeLimit} s were spent before bfloat16 could be measured, and fp32 is never the wrong answer`
        : 'fp32: not measured, and fp32 is never the wrong answer';
    }
  }
  const amp = keep('amp', fast, precisionWhy);
  const channelsLast = keep('channelsLast', fast, precisionWhy);
  const measuredFast = amp.value && channelsLast.value;

  // width, then patch: the widest base, at the planned patch if it can, that still gets MIN_STEPS steps in the budget
  const widths = given.baseChannels !== undefined ? [given.baseChannels] : gpu ? [64, 32] : [32, 16];
  const patches = given.patch === undefined && patch.value > 256 ? [patch.value, 256] : [patch.value];
  let chosen: Fit | null = null;
  search: for (const p of patches) {
    for (const w of widths) {
      const time = await timeOf(w, measuredFast, sideOf(p));
      if (!time) break search;
      chosen = { width: w, patch: p, time, steps: stepsFor(time, sideOf(p)) };
      if (chosen.steps === null || chosen.steps >= MIN_STEPS) break search;
    }
  }
  const stepTime = chosen?.time ?? null;
  const width = keep('baseChannels', chosen?.width ?? 32, widthWhy(chosen, widths[0]));
  if (chosen && chosen.patch !== patch.value) {
    patch = keep('patch', chosen.patch, `${chosen.patch} px, less than the ${patch.value} px the structures want: at ${patch.value} px too few steps fit the budget`);
  }
  const side = sideOf(patch.value);

  const optimizer = keep('optimizer', 'adam', "Adam at 1e-3 is the README's recipe (matched PyTorch on membrane); the seed's SGD 0.99 at 5e-3 learns slower");
  const lr = keep('lr', optimizer.value === 'adam' ? 1e-3 : TRAINING_DEFAULTS.lr, optimizer.value === 'adam' ? 'the usual Adam rate for a U-Net' : "the seed's SGD rate");
  const schedule = keep('schedule', 'cosine', budget.minutes !== null ? 'cosine decay over the budget, step by step, so the run ends at a low rate' : 'cosine decay over the epochs');
  const preset = keep(
    'preset',
    fp.channels === 3 ? 'he' : 'rigid',
    fp.channels === 3
      ? 'RGB: H&E recipe (flips, rotations, scale, mild elastic, stain jitter against lab-to-lab colour)'
      : "gray: flips and 90-degree rotations; on membrane they beat the em recipe's elastic and intensity changes (README)",
  );
  const rare = fp.foregroundFraction < 0.05 || fp.emptyMasks > fp.images / 4;
  const oversample = keep(
    'foregroundOversample',
    rare ? 0.5 : 0,
    rare
      ? `foreground is rare (${pct(fp.foregroundFraction)} of pixels, ${fp.emptyMasks} empty masks): half the patches are placed on it`
      : `foreground is ${pct(fp.foregroundFraction)} of pixels: random patches see enough of it`,
  );

  // cadences and length from the step time
  let estimate: PlanEstimate | null = null;
  let valEveryPlanned = 1;
  let valWhy = 'every epoch: no step time measured to weigh it by';
  let checkpointPlanned = 120;
  let checkpointWhy = 'last.pt every 2 minutes: no step time measured';
  let epochsPlanned: number = TRAINING_DEFAULTS.epochs;
  let epochsWhy = 'no step time measured to count the epochs that fit the budget';
  if (stepTime) {
    const spi = stepTime.secondsPerImage;
    const epochSeconds = trainImages * spi;
    const validationSeconds = validationTime(request.validationImages, fp, side, spi);
    const epochsAtOnce = budget.minutes !== null ? Math.floor((budget.minutes * 60) / epochSeconds) : null;
    if (request.validationImages > 0) {
      const byShare = Math.max(1, Math.ceil(validationSeconds / (VALIDATION_SHARE * epochSeconds)));
      // the best epoch is picked among the validated ones: at least MIN_VALIDATIONS of them
      const byCount = epochsAtOnce !== null ? Math.max(1, Math.floor(epochsAtOnce / MIN_VALIDATIONS)) : byShare;
      valEveryPlanned = Math.min(byShare, byCount);
      valWhy = valEveryPlanned < byShare
        ? `every ${valEveryPlanned === 1 ? '' : `${valEveryPlanned} `}epoch${valEveryPlanned === 1 ? '' : 's'}: only ~${epochsAtOnce} epochs fit, and the best is picked among at least ${MIN_VALIDATIONS} validations (each ~${secs(validationSeconds)})`
        : valEveryPlanned === 1
          ? `every epoch: a validation (~${secs(validationSeconds)}) is under ${pct(VALIDATION_SHARE)} of an epoch (~${secs(epochSeconds)})`
          : `every ${valEveryPlanned} epochs: a validation takes ~${secs(validationSeconds)}, an epoch ~${secs(epochSeconds)}; this keeps validation under ${pct(VALIDATION_SHARE)} of the run`;
    } else {
      valWhy = 'no validation images';
    }
    const valEvery = given.valEvery ?? valEveryPlanned;
    const cycle = epochSeconds + (request.validationImages > 0 ? validationSeconds / valEvery : 0);
    checkpointPlanned = epochSeconds < 60 ? 120 : 0;
    checkpointWhy = checkpointPlanned ? `last.pt every 2 minutes: epochs take ~${secs(epochSeconds)}, and writing it every epoch would cost more than a resume saves` : `last.pt after every epoch (~${secs(epochSeconds)} each)`;
    const epochs = given.epochs;
    const minutes = budget.minutes;
    const epochsInBudget = minutes !== null ? Math.max(1, Math.floor((minutes * 60) / cycle)) : null;
    if (epochsInBudget !== null) {
      // a cap well above the estimate: the budget, not the count, ends the run, even on a quieter machine
      epochsPlanned = Math.max(3, 3 * epochsInBudget);
      epochsWhy = `the budget ends the run (about ${epochsInBudget} epochs of ~${secs(cycle)} fit); this cap is 3x that in case the machine is faster than measured`;
    }
    const runEpochs = epochsInBudget ?? epochs ?? epochsPlanned;
    estimate = {
      imagesPerSecond: 1 / spi,
      epochSeconds,
      validationSeconds,
      epochsInBudget,
      steps: Math.floor((minutes !== null ? stepsIn(minutes * 60, spi, batch.value, trainImages, request.validationImages, fp, side) : runEpochs * Math.ceil(trainImages / batch.value))),
      minutes: minutes ?? (runEpochs * cycle) / 60,
    };
  }

  const choices: Choices = {
    maxMinutes: keep('maxMinutes', budget.minutes, budget.why),
    epochs: keep('epochs', epochsPlanned, epochsWhy),
    batchSize: batch,
    downsample,
    patch,
    depth,
    baseChannels: width,
    optimizer,
    lr,
    schedule,
    preset,
    foregroundOversample: oversample,
    valEvery: keep('valEvery', valEveryPlanned, valWhy),
    checkpointEvery: keep('checkpointEvery', checkpointPlanned, checkpointWhy),
    amp,
    channelsLast,
    workers,
    tune: keep('tune', ...planTune(fp, request.validationImages)),
  };
  return { format: PLAN_FORMAT, choices, measurements, estimate, fingerprint, machine, validationImages: request.validationImages };
}

/** The options of a plan as the parsed command line has them. */
export function planOptions(plan: Plan): PlannedOptions {
  return Object.fromEntries(Object.entries(plan.choices).map(([k, c]) => [k, c.value])) as unknown as PlannedOptions;
}

/** A width and patch with their step time and the optimizer steps that fit the budget (null: no budget). */
interface Fit {
  width: number;
  patch: number;
  time: StepMeasurement & { estimated: boolean };
  steps: number | null;
}

function widthWhy(chosen: Fit | null, widest: number): string {
  if (!chosen) return "32: no step time measured; the README's membrane runs found no gain from wider";
  const { width, time, steps } = chosen;
  const rate = `${ms(time.secondsPerImage)} per image${time.estimated ? ' (estimated from a measured width)' : ''}`;
  if (steps === null) return `${width}: no budget to fit (${rate})`;
  if (steps >= MIN_STEPS) {
    return `${width}: about ${Math.round(steps)} steps fit the budget at ${rate} (${MIN_STEPS} wanted)` + (width === widest ? '' : `; base ${widest} would get too few`);
  }
  return `${width}, the narrowest tried: only about ${Math.round(steps)} steps fit the budget at ${rate} (${MIN_STEPS} wanted; a longer --max-minutes gives more)`;
}

/** The budget: given, implied by --epochs (none), or the stated default. */
function planBudget(given: Partial<PlannedOptions>): { minutes: number | null; why: string } {
  if (given.maxMinutes !== undefined) return { minutes: given.maxMinutes, why: 'given' };
  if (given.epochs !== undefined) return { minutes: null, why: '--epochs given without a budget: the run ends after its epochs' };
  return { minutes: DEFAULT_MINUTES, why: `no --max-minutes: a stated ${DEFAULT_MINUTES}-minute budget (give --max-minutes for more; more time trains a better model)` };
}

/** The smallest side, in working pixels, that an image may have after downsampling: a 128 px patch of 4 levels still fits. */
const MIN_SIDE_DOWNSAMPLED = 128;

/** The median structure, in working pixels, below which downsampling would blur away the shapes to learn. */
const MIN_MEDIAN_STRUCTURE = 32;

/**
 * The working resolution. Structures wider than 4 levels see (200 px) need 5
 * levels and 512 px patches at full resolution, steps a CPU fits few of in a
 * budget; at 1/2 or 1/4 the same structures fit 4 levels and a 256 px patch,
 * and each step covers 4 or 16 times the tissue. Not below a 128 px image side
 * or a 32 px median structure, and not on a GPU, which has the steps to train
 * at full resolution.
 */
export function planDownsample(fp: DataFingerprint, gpu: boolean): [number, string] {
  const object = fp.objects.p90Size;
  const reach = receptiveField(4);
  if (object <= reach) return [1, `full resolution: the ${object || 'small'} px structures (90th percentile) fit the ${reach} px that 4 levels see`];
  if (gpu) return [1, `full resolution: a GPU has the steps for the 5 levels and large patches that ${object} px structures need`];
  const minSide = Math.min(fp.width.min, fp.height.min);
  const usable = [2, 4].filter((f) => minSide / f >= MIN_SIDE_DOWNSAMPLED && fp.objects.medianSize / f >= MIN_MEDIAN_STRUCTURE);
  const factor = usable.find((f) => object / f <= reach) ?? usable[usable.length - 1];
  if (!factor) {
    return [1, `full resolution: at 1/2 the images (${minSide} px) or the median structure (${fp.objects.medianSize} px) would be too small`];
  }
  return [
    factor,
    `1/${factor} resolution: the ${object} px structures (90th percentile) become ${Math.round(object / factor)} px, which 4 levels see whole, ` +
      `and each step covers ${factor * factor}x the tissue; predictions come back at full resolution`,
  ];
}

/**
 * Post-processing chosen after training on the validation images (`patho
 * tune`): on GlaS it took object F1 from 0.40 to 0.69 on the test images
 * (specks no longer counted as glands), Dice from 0.851 to 0.856 (README).
 */
function planTune(fp: DataFingerprint, validationImages: number): [boolean, string] {
  if (fp.classes !== 2) return [false, `no post-processing: it is for binary masks, and these have ${fp.classes - 1} foreground classes`];
  if (validationImages === 0) return [false, 'no post-processing chosen: no validation images to choose it on'];
  return [true, `after training, remove small objects and fill small holes at the sizes the ${validationImages} validation images prefer; stored in model.pt, predict and eval apply it`];
}

/** The fingerprint's sizes at 1/factor of the images' pixels (what the planner's patch, depth and timing decisions see). */
function atResolution(fp: DataFingerprint, factor: number): DataFingerprint {
  if (factor === 1) return fp;
  const side = (n: number) => Math.ceil(n / factor);
  const spread = (s: Spread) => ({ min: side(s.min), median: side(s.median), max: side(s.max) });
  const o = fp.objects;
  return {
    ...fp, width: spread(fp.width), height: spread(fp.height),
    objects: { ...o, medianSize: Math.round(o.medianSize / factor), p90Size: Math.round(o.p90Size / factor), maxSize: Math.round(o.maxSize / factor) },
  };
}

/** Patch side (a multiple of 2^depth) that holds structures whole, within the images and 256..512. */
function planPatch(fp: DataFingerprint, object: number, depth: number): [number, string] {
  const unit = 2 ** depth;
  const minSide = Math.min(fp.width.min, fp.height.min);
  const wanted = Math.min(512, Math.max(256, roundUp(2 * object, unit)));
  const fits = Math.max(4 * unit, Math.floor(minSide / unit) * unit);
  if (wanted <= fits) {
    return [wanted, `${wanted} px: twice the ${object} px structures (90th percentile), at least 256 for context, at most 512 for steps per minute`];
  }
  return [fits, `${fits} px: the smallest image side (${minSide} px) rounded down to a multiple of ${unit}, so patches are not padding`];
}

/** Optimizer steps in `seconds` of a run: training time less the validation share. */
function stepsIn(seconds: number, spi: number, batch: number, trainImages: number, validationImages: number, fp: DataFingerprint, patch: number): number {
  const epoch = trainImages * spi;
  const validation = validationTime(validationImages, fp, patch, spi);
  const trainingShare = validationImages > 0 ? epoch / (epoch + Math.min(validation, VALIDATION_SHARE * epoch)) : 1;
  return (seconds * trainingShare) / (spi * batch);
}

/** Seconds to validate: whole images, forward only (about a third of a training step per pixel). */
function validationTime(images: number, fp: DataFingerprint, patch: number, spi: number): number {
  return (images * ((fp.width.median * fp.height.median) / (patch * patch)) * spi) / 3;
}

function sameCandidate(a: StepCandidate, b: StepCandidate): boolean {
  return a.baseChannels === b.baseChannels && a.depth === b.depth && a.patch === b.patch && a.batchSize === b.batchSize && a.amp === b.amp && a.channelsLast === b.channelsLast;
}

function roundUp(x: number, unit: number): number {
  return Math.ceil(x / unit) * unit;
}

const ms = (s: number) => `${Math.round(s * 1000)} ms`;
const secs = (s: number) => (s < 90 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${(s / 60).toFixed(1)} min`);
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
