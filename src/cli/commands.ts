/**
 * The option tables of the `patho` commands and `parseCommandLine`, which
 * turns argv into a typed `{ command, options, positionals }`. Only parsing
 * lives here; the commands themselves are implemented elsewhere.
 */
import { UNET_LIMITS } from '../models/limits.js';
import { MAX_DOWNSAMPLE } from '../data/scale.js';
import { BINARY_LOSSES, OPTIMIZERS, SCHEDULES, TRAINING_DEFAULTS as TRAINING } from '../train/defaults.js';
import type { PostProcessing } from '../infer/postprocess.js';
import { TILING_DEFAULTS } from '../infer/tiling.js';
import { type CommandSpec, type OptionsOf, UsageError, closest, defineCommand, helpText, parseArgs } from './args.js';

const verbose = { name: 'verbose', short: 'v', type: 'boolean', help: 'print stack traces and debug details on errors' } as const;

const devices = {
  name: 'devices',
  type: 'string',
  metavar: 'LIST',
  default: 'auto',
  help: "where to compute: cpu, cuda:0, cuda:0,1 (one process per GPU) or cpu:2 (two CPU processes); auto is cuda:0 when libtorch sees a GPU, else cpu",
} as const;

const threads = {
  name: 'threads',
  type: 'int',
  metavar: 'N',
  default: 0,
  min: 0,
  help: 'intra-op threads per process; 0 uses every core (libtorch alone would use one)',
} as const;

const workers = {
  name: 'workers',
  type: 'int',
  metavar: 'N',
  default: 2,
  min: 0,
  help: 'worker threads that decode and augment images; 0 does it on the main thread',
} as const;

const model = { name: 'model', short: 'm', type: 'string', metavar: 'FILE', default: 'data/model.pt', help: 'checkpoint to load' } as const;

/** `--model` of predict and eval, which also take an ensemble (src/infer/ensemble.ts). */
const ensembleModel = {
  ...model,
  metavar: 'FILE[,FILE...]|DIR',
  help:
    'checkpoint to load; several (a,b,c or a folder) predict as an ensemble, averaging their probabilities. A folder stands for its ' +
    'fold-N/model.pt (a patho train --folds run), else its model.pt, else every .pt file in it',
} as const;

const data = {
  name: 'data',
  type: 'string',
  metavar: 'DIR',
  default: 'data/membrane/train',
  help: 'folder holding the images and masks subfolders',
} as const;

const images = { name: 'images', type: 'string', metavar: 'NAME', default: 'images', help: 'subfolder of --data with the images' } as const;

const masks = {
  name: 'masks',
  type: 'string',
  metavar: 'NAME',
  default: 'masks',
  help: 'subfolder of --data with the masks, paired with the images by base name',
} as const;

const foreground = {
  name: 'foreground',
  type: 'list',
  metavar: 'LIST',
  help:
    'mask value(s) that mark foreground (default: the single nonzero value in the masks; 0 makes the membrane of the EM masks the foreground), ' +
    'or value:name pairs, a class per name, e.g. 1:gland,2:tumour: the names go into the checkpoint and the GeoJSON of predictions; ' +
    'instances: masks that number their objects 1, 2, 3, ... (GlaS, MoNuSeg): all nonzero values foreground, each value one object for the object metrics',
} as const;

const thresholds = {
  name: 'thresholds',
  type: 'list',
  items: 'number',
  metavar: 'LIST',
  default: TRAINING.thresholds,
  min: 0,
  max: 1,
  help: 'probability thresholds at which to score (a pixel is foreground when p >= threshold)',
} as const;

/** `--threshold` of predict and eval: a number, or the checkpoint's own (see `parseThreshold`). */
const modelThreshold = {
  name: 'threshold',
  type: 'string',
  metavar: 'T|auto',
  default: 'auto',
  help:
    "foreground when p >= T; auto takes the model's threshold (the best of its validation sweep by mean Dice; 0.5 for checkpoints without one), " +
    "for an ensemble the mean of its models'",
} as const;

/**
 * The value of a `--threshold T|auto` option: a probability in [0, 1], or
 * 'auto' for the checkpoint's.
 *
 * @throws UsageError (exit code 2) for anything else
 */
export function parseThreshold(text: string, program: string): number | 'auto' {
  if (text === 'auto') return 'auto';
  const value = text.trim() === '' ? NaN : Number(text);
  if (!(value >= 0 && value <= 1)) throw new UsageError(`--threshold expects a number from 0 to 1 or auto, got '${text}'`, program);
  return value;
}

/** `--min-object-px` and `--fill-holes-px` of predict and eval: sizes, or the checkpoint's own (see `parsePostProcessing`). */
const postProcessingOptions = [
  {
    name: 'min-object-px',
    type: 'string',
    metavar: 'PX|auto',
    default: 'auto',
    help: "remove predicted objects (8-connected) of fewer than PX pixels; auto takes the model's (chosen by patho tune; 0 without); slides: from the GeoJSON polygons",
  },
  {
    name: 'fill-holes-px',
    type: 'string',
    metavar: 'PX|auto',
    default: 'auto',
    help: "fill holes (4-connected background enclosed by an object) of fewer than PX pixels; auto takes the model's (chosen by patho tune; 0 without); slides: in the GeoJSON polygons",
  },
] as const;

/**
 * The post-processing asked for: each size a whole number of pixels, or the
 * checkpoint's own for auto (none when it records none).
 */
export function parsePostProcessing(
  o: { minObjectPx: string; fillHolesPx: string },
  stored: PostProcessing | null | undefined,
  program: string,
): PostProcessing {
  const size = (text: string, option: string, fromModel: number) => {
    if (text === 'auto') return fromModel;
    const value = text.trim() === '' ? NaN : Number(text);
    if (!(Number.isInteger(value) && value >= 0)) throw new UsageError(`--${option} expects a whole number of pixels (0 = off) or auto, got '${text}'`, program);
    return value;
  };
  return {
    minObjectPx: size(o.minObjectPx, 'min-object-px', stored?.minObjectPx ?? 0),
    fillHolesPx: size(o.fillHolesPx, 'fill-holes-px', stored?.fillHolesPx ?? 0),
  };
}

const tta = { name: 'tta', type: 'boolean', help: 'test-time augmentation: average over the 8 flips and rotations (8x slower)' } as const;

const batchSize = { name: 'batch-size', short: 'b', type: 'int', metavar: 'B', default: 4, min: 1, help: 'images per batch' } as const;

/** How train and plan hold images out for validation: one of the three. */
const validationOptions = [
  {
    name: 'val-split',
    type: 'number',
    metavar: 'FRACTION',
    default: 0.2,
    min: 0,
    max: 0.9,
    help: 'fraction of the images held out for validation, chosen by --seed',
  },
  { name: 'val', type: 'string', metavar: 'DIR', help: 'a separate validation folder (with the same subfolders) instead of --val-split' },
  {
    name: 'val-names',
    type: 'list',
    metavar: 'LIST',
    help: 'base names of the images held out for validation, e.g. 25,26,27,28,29, instead of --val-split',
  },
] as const;
const validationExclusive = [
  ['val-split', 'val'],
  ['val-split', 'val-names'],
  ['val', 'val-names'],
] as const;

const skipBad = {
  name: 'skip-bad',
  type: 'boolean',
  help: 'warn about and count unreadable or mismatched images and masks instead of stopping',
} as const;

const amp = { name: 'amp', type: 'boolean', help: 'mixed precision (autocast); a no-op where the device lacks it' } as const;

const channelsLast = { name: 'channels-last', type: 'boolean', help: 'channels-last memory format for convolutions' } as const;

/** `patho train` */
export const TRAIN = defineCommand({
  name: 'train',
  summary: 'train a U-Net on a folder of images and masks',
  description:
    'Train a U-Net on a folder of images and masks (by default the bundled membrane data set) and write the best and latest checkpoints, a JSON-lines log and the validation scores of every epoch to --out.',
  options: [
    data,
    images,
    masks,
    ...validationOptions,
    {
      name: 'folds',
      type: 'int',
      metavar: 'K',
      min: 2,
      help:
        'k-fold cross-validation instead of --val-split: the images, shuffled by --seed, dealt into K folds; alone, trains every fold in turn ' +
        '(each a run of its own, with the whole --max-minutes, all replaying one plan) into OUT/fold-0 .. OUT/fold-K-1 and prints the folds\' validation Dice; ' +
        'patho predict --model OUT then predicts with their ensemble',
    },
    { name: 'fold', type: 'int', metavar: 'I', min: 0, help: 'with --folds K: train fold I only (0 .. K-1): validate on it, train on the others, into OUT/fold-I' },
    foreground,
    {
      name: 'slides',
      type: 'string',
      metavar: 'DIR',
      help: 'train on the whole-slide images in DIR (SVS, NDPI, MRXS, tiled TIFF) instead of --data, each paired by base name with a QuPath GeoJSON export in --annotations',
    },
    { name: 'annotations', type: 'string', metavar: 'DIR', help: "with --slides: QuPath's GeoJSON exports (File > Export objects as GeoJSON); default: an annotations folder beside --slides" },
    {
      name: 'classes',
      type: 'list',
      metavar: 'LIST',
      help: 'with --slides: the QuPath classes to train, e.g. Tumor,Stroma (default: every class found); regions classed Background are class 0, Ignore* regions are left out',
    },
    {
      name: 'unlabelled',
      type: 'string',
      choices: ['ignore', 'background'],
      default: 'ignore',
      help: 'with --slides: pixels outside every annotation count for nothing in loss and metrics (ignore), or are background',
    },
    { name: 'mpp', type: 'number', metavar: 'X', min: 0, help: 'with --slides: microns per pixel to train at, resampled from the nearest finer level (default: level 0)' },
    { name: 'val-slides', type: 'list', metavar: 'LIST', help: 'with --slides: base names of the slides held out for validation' },
    { name: 'samples-per-epoch', type: 'int', metavar: 'N', min: 1, help: 'with --slides: patches per epoch (default: the annotated area in patches, at most 4096)' },
    { name: 'epochs', short: 'e', type: 'int', metavar: 'N', default: TRAINING.epochs, min: 1, help: 'passes over the training images (with --max-minutes and --no-plan: until the budget ends, unless given)' },
    batchSize,
    {
      name: 'patch',
      type: 'int',
      metavar: 'P',
      default: 256,
      min: 0,
      help: 'side of the random square patches trained on; 0 trains on whole images',
    },
    {
      name: 'downsample',
      type: 'int',
      metavar: 'F',
      default: 1,
      min: 1,
      max: MAX_DOWNSAMPLE,
      help:
        "train at 1/F of the images' pixels (block means; masks by each block's most frequent label): large structures fit fewer levels and patches " +
        'cover F^2 times the tissue; validation, eval, predict and the browser page shrink their input alike and give masks at full resolution; with --slides use --mpp',
    },
    {
      name: 'foreground-oversample',
      type: 'number',
      metavar: 'P',
      default: 0,
      min: 0,
      max: 1,
      help: 'probability that a patch is placed on foreground (for rare structures)',
    },
    { name: 'lr', type: 'number', metavar: 'X', default: TRAINING.lr, min: 0, help: 'learning rate' },
    { name: 'optimizer', type: 'string', choices: OPTIMIZERS, default: TRAINING.optimizer, help: 'optimizer' },
    { name: 'momentum', type: 'number', metavar: 'M', default: TRAINING.momentum, min: 0, max: 1, help: 'SGD momentum (Adam keeps its betas 0.9, 0.999)' },
    {
      name: 'loss',
      type: 'string',
      choices: BINARY_LOSSES,
      default: TRAINING.binaryLoss,
      help: 'training loss; bce-jaccard is BCE - log(soft Jaccard), as the original patho',
    },
    { name: 'depth', type: 'int', metavar: 'D', default: 4, min: 1, max: UNET_LIMITS.depth, help: 'U-Net levels (downsamplings)' },
    { name: 'base-channels', type: 'int', metavar: 'C', default: 64, min: 1, max: UNET_LIMITS.widestChannels / 2, help: 'channels of the first level; each level doubles them' },
    { name: 'upsample', type: 'string', choices: ['bilinear', 'transpose'], default: 'bilinear', help: 'decoder upsampling' },
    {
      name: 'padding',
      type: 'string',
      choices: ['same', 'valid'],
      default: 'same',
      help: 'same keeps the size; valid crops as in the 2015 paper',
    },
    { name: 'batch-norm', type: 'boolean', default: true, help: 'batch normalisation after each convolution' },
    { name: 'dropout', type: 'number', metavar: 'P', default: 0, min: 0, max: 1, help: 'dropout probability in the bottleneck' },
    {
      name: 'preset',
      type: 'string',
      choices: ['em', 'he', 'rigid', 'none'],
      help: 'augmentation recipe: em (grayscale electron microscopy), he (H&E stained), rigid (flips and 90-degree rotations) or none; default: from the channel count',
    },
    thresholds,
    {
      name: 'schedule',
      type: 'string',
      choices: SCHEDULES,
      default: TRAINING.schedule,
      help: 'learning-rate schedule: constant, cosine decay, polynomial decay or x0.1 after each of the first two thirds; over --epochs, or with --max-minutes over whichever runs out first, step by step',
    },
    {
      name: 'early-stop',
      type: 'int',
      metavar: 'N',
      default: TRAINING.earlyStop,
      min: 0,
      help: 'stop after N epochs without a better validation Dice; 0 never stops early',
    },
    { name: 'max-minutes', type: 'number', metavar: 'M', min: 0, help: 'stop after this much training time (counted over a resumed run too), keeping the best checkpoint' },
    {
      name: 'val-every',
      type: 'int',
      metavar: 'N',
      default: TRAINING.validateEvery,
      min: 1,
      help: 'validate every N epochs (and after the last); short epochs spend less of the budget validating',
    },
    {
      name: 'checkpoint-every',
      type: 'number',
      metavar: 'S',
      default: TRAINING.checkpointEvery,
      min: 0,
      help: 'seconds between writes of last.pt (always written after the last epoch); 0 writes it every epoch',
    },
    {
      name: 'tune',
      type: 'boolean',
      help:
        'after training, choose the post-processing (small objects removed, small holes filled) on the validation images and store it in model.pt, ' +
        'as patho tune does: predict and eval apply it by default (binary masks; the plan turns it on where there are validation images)',
    },
    {
      name: 'plan',
      type: 'boolean',
      default: true,
      help: 'fill every option not given from a plan for the data, this machine and the budget (see patho plan); --no-plan uses the fixed defaults shown here',
    },
    {
      name: 'config',
      type: 'string',
      metavar: 'FILE',
      help: 'options from a JSON file: a plan to replay (patho plan --json, OUT/plan.json, patho info --config) or any of these options by name, e.g. {"lr": 0.001, "base-channels": 32}; options on the command line override it',
    },
    { name: 'resume', type: 'boolean', help: 'continue from the latest checkpoint in --out (and its plan.json)' },
    { name: 'seed', type: 'int', metavar: 'S', default: 0, help: 'seed of the split, the sampling, the augmentation and the weights' },
    { name: 'out', short: 'o', type: 'string', metavar: 'DIR', default: 'data/', help: 'where checkpoints (model.pt) and logs go' },
    devices,
    { name: 'nproc', type: 'int', metavar: 'N', min: 1, help: 'processes on this host (default: one per device of --devices)' },
    { name: 'sync-bn', type: 'boolean', help: 'with 2+ processes: batch-norm statistics over every process\'s batch (SyncBatchNorm), for a small batch per device' },
    {
      name: 'dist-timeout',
      type: 'number',
      metavar: 'S',
      default: 300,
      min: 1,
      help: 'seconds a multi-process job waits for its ranks (rendezvous, every all-reduce) before failing',
    },
    amp,
    channelsLast,
    workers,
    threads,
    skipBad,
    verbose,
  ],
  exclusive: [
    ...validationExclusive,
    ['folds', 'val'],
    ['folds', 'val-names'],
    ['folds', 'val-split'],
    ['folds', 'slides'],
    ['slides', 'data'],
    ['slides', 'val'],
    ['slides', 'val-names'],
    ['slides', 'val-split'],
  ],
  examples: [
    { command: 'patho train', help: 'train on the bundled membrane data set; the model goes to data/model.pt' },
    {
      command: 'patho train --val-names 25,26,27,28,29 --seed 1 --max-minutes 20',
      help: 'a fixed validation split and a 20-minute budget',
    },
    {
      command: 'patho train --data glas --preset he --patch 512 --out runs/glas',
      help: 'H&E tiles with their own folder and run directory',
    },
    { command: 'patho train --out runs/glas --resume', help: 'continue an interrupted run' },
    { command: 'patho train --data glas2 --config runs/glas/plan.json --seed 2', help: "another run with an earlier run's plan, on other data and another seed" },
    { command: 'patho train --data glas --folds 5 --max-minutes 20 --out runs/cv', help: '5-fold cross-validation, 20 minutes per fold; then patho predict -m runs/cv predicts with the 5 models' },
    {
      command: 'patho train --slides slides --classes Tumor,Stroma --mpp 0.5 --val-slides s7',
      help: 'train on regions drawn in QuPath (GeoJSON in annotations/ beside slides/); unannotated pixels are left out',
    },
    { command: 'patho train --devices cuda:0,1 --amp --channels-last', help: 'two GPUs with mixed precision and channels-last' },
  ],
});

/** `patho plan` */
export const PLAN = defineCommand({
  name: 'plan',
  summary: 'plan a training run for the data, this machine and a time budget',
  description:
    'Fingerprint a folder of images and masks (sizes, channels, foreground share, structure sizes), look at the machine (cores, bfloat16 instructions, GPUs), time a few training steps, and print the options patho train would use, each with the reason. patho train makes the same plan for every option not given.',
  options: [
    data,
    images,
    masks,
    foreground,
    ...validationOptions,
    { name: 'max-minutes', type: 'number', metavar: 'M', min: 0, help: 'the time budget to plan for (default: 10 minutes)' },
    { name: 'seed', type: 'int', metavar: 'S', default: 0, help: 'seed of the validation split' },
    devices,
    threads,
    { name: 'json', type: 'boolean', help: 'print the plan as one JSON object (the file patho train writes to OUT/plan.json)' },
    skipBad,
    verbose,
  ],
  exclusive: [
    ...validationExclusive,
  ],
  examples: [
    { command: 'patho plan', help: 'the plan for the bundled membrane set, with a 10-minute budget' },
    { command: 'patho plan --data glas --max-minutes 25', help: 'an H&E folder and a 25-minute budget' },
    { command: 'patho plan --data glas --json > plan.json', help: 'the plan as JSON' },
  ],
});

const objectMetrics = {
  name: 'object-metrics',
  type: 'string',
  choices: ['auto', 'glas', 'isbi', 'none'],
  default: 'auto',
  help:
    "object-level scores at --threshold (the model's by default): glas (GlaS's object F1, object Dice, object Hausdorff), isbi (ISBI 2012's " +
    'foreground-restricted V_rand and V_info of the cells between membranes), none, or auto: isbi when the background of the ' +
    "first mask is a thin network (membranes), else glas",
} as const;

/** `patho eval` */
export const EVAL = defineCommand({
  name: 'eval',
  summary: 'score a trained model on images with masks',
  description:
    "Score a trained model on a folder of images and masks: Dice, IoU, precision and recall at the model's threshold (or --threshold) and at each of --thresholds, as the mean over images, pooled over all pixels, and per image.",
  options: [
    ensembleModel,
    data,
    images,
    masks,
    foreground,
    modelThreshold,
    { ...thresholds, help: "more probability thresholds at which to score, after --threshold's" },
    { name: 'sweep', type: 'boolean', help: 'also sweep thresholds 0.05..0.95 and report the best by mean Dice' },
    ...postProcessingOptions,
    tta,
    objectMetrics,
    { name: 'json', type: 'boolean', help: 'print one JSON object instead of tables' },
    batchSize,
    devices,
    amp,
    channelsLast,
    workers,
    threads,
    skipBad,
    verbose,
  ],
  examples: [
    { command: 'patho eval', help: 'score data/model.pt on the membrane training folder' },
    { command: 'patho eval --model runs/glas/model.pt --data glas-test --threshold 0.4', help: "another model and data set, at 0.4 instead of the model's threshold" },
    { command: 'patho eval --json > scores.json', help: 'machine-readable scores' },
  ],
});

/** `patho tune` */
export const TUNE = defineCommand({
  name: 'tune',
  summary: "choose a model's post-processing on its validation images",
  description:
    "Predict the validation images a checkpoint records (or --data), try removing small objects and filling small holes at a range of sizes, " +
    'and store the best (by GlaS object F1 where the masks hold separate objects, else by mean Dice) in the checkpoint, where predict and eval take it by default.',
  options: [
    model,
    { name: 'data', type: 'string', metavar: 'DIR', help: "a folder with images/ and masks/ to choose on (default: the model's own validation images)" },
    images,
    masks,
    foreground,
    modelThreshold,
    tta,
    { name: 'save', type: 'boolean', default: true, help: 'store the choice in the checkpoint (--no-save only prints it)' },
    { name: 'json', type: 'boolean', help: 'print one JSON object (the choice and every trial) instead of a table' },
    devices,
    threads,
    workers,
    skipBad,
    verbose,
  ],
  examples: [
    { command: 'patho tune --model runs/glas/model.pt', help: 'choose on the validation images of the run and store the choice' },
    { command: 'patho tune --model runs/glas/model.pt --tta --no-save', help: 'the choice for predictions with test-time augmentation, printed only' },
  ],
});

/** `patho predict` */
export const PREDICT = defineCommand({
  name: 'predict',
  summary: 'write predicted masks for images',
  description:
    'Predict masks for images and write them as PNG files named after the inputs, with an overlay (the mask outline on the image) for quick looking.',
  options: [
    ensembleModel,
    { name: 'out', short: 'o', type: 'string', metavar: 'DIR', default: 'data/predictions', help: 'where the masks go' },
    modelThreshold,
    { name: 'probabilities', type: 'boolean', help: 'also write 8-bit probability maps (PNG for images, tiled pyramidal TIFF for slides)' },
    { name: 'overlay', type: 'boolean', default: true, help: 'also write the mask outline drawn on the image (a thumbnail for slides)' },
    { name: 'tile', type: 'int', metavar: 'PX', default: TILING_DEFAULTS.tile, min: 16, help: 'side of the square tiles the image is predicted in' },
    { name: 'overlap', type: 'number', metavar: 'FRACTION', default: TILING_DEFAULTS.overlap, min: 0, max: 0.9, help: 'fraction of a tile shared with its neighbour' },
    { name: 'blend', type: 'string', choices: ['gaussian', 'cosine', 'constant'], default: TILING_DEFAULTS.blend, help: 'weighting of overlapping tiles' },
    ...postProcessingOptions,
    tta,
    { name: 'level', type: 'int', metavar: 'L', min: 0, help: 'slides: pyramid level to predict at (default 0, full resolution)' },
    { name: 'mpp', type: 'number', metavar: 'X', min: 0, help: "slides: predict at X microns per pixel, area-averaged from the nearest finer level as training patches are (default: the model's mpp when it was trained on slides at one)" },
    {
      name: 'format',
      type: 'list',
      choices: ['png', 'tiff', 'geojson'],
      metavar: 'LIST',
      help: 'outputs: png (mask), tiff (tiled pyramidal mask), geojson (polygons, QuPath); default png for images, tiff,geojson for slides',
    },
    { name: 'objects', type: 'string', choices: ['annotation', 'detection'], default: 'annotation', help: 'slides: the QuPath object type of the GeoJSON polygons' },
    {
      name: 'simplify',
      type: 'number',
      metavar: 'PX',
      default: 0,
      min: 0,
      help: 'GeoJSON: simplify the outlines to within PX (level-0) pixels, Douglas-Peucker keeping topology (no ring crosses another, holes stay inside); 0 keeps the exact pixel outline',
    },
    { name: 'min-area', type: 'number', metavar: 'UM2', min: 0, help: 'GeoJSON: leave out polygons smaller than UM2 square microns (slides that record their microns per pixel)' },
    { name: 'tissue-mask', type: 'boolean', default: true, help: 'slides: skip tiles without tissue (Otsu on the thumbnail saturation)' },
    {
      name: 'precision',
      type: 'string',
      choices: ['auto', 'fp32', 'bf16'],
      default: 'auto',
      help: "auto: bfloat16 on CPUs with AVX512-BF16/AMX when it scores within 0.001 Dice of float32 on the checkpoint's validation images, else float32; --amp is bf16",
    },
    {
      name: 'engine',
      type: 'string',
      choices: ['auto', 'libtorch', 'onnxruntime'],
      default: 'auto',
      help: 'what runs the network: libtorch, or onnxruntime (CPU, float32, the exported model); auto picks the one measured faster on this kind of device',
    },
    { ...batchSize, help: 'tiles per batch (read together; on a CPU each forward pass computes one of them, which saves memory and no time)' },
    devices,
    amp,
    channelsLast,
    { ...workers, default: 1, help: 'slides: worker threads reading tiles ahead of the engine; 0 reads them on the main thread between batches' },
    threads,
    { ...verbose, help: 'print stack traces on errors, and for slides how busy the engine was' },
  ],
  exclusive: [['level', 'mpp']],
  positionals: [{ name: 'INPUT', help: 'image or slide files (.svs, .ndpi, .mrxs, ...) or folders of them', required: true, variadic: true }],
  examples: [
    { command: 'patho predict data/membrane/test/images', help: 'masks for the membrane test images in data/predictions' },
    { command: 'patho predict -m runs/glas/model.pt -o masks --probabilities a.png b.png', help: 'two images, with probability maps' },
    { command: 'patho predict -m runs/glas/model.pt --mpp 1 --tta slides/', help: 'every slide of a folder at 1 um/px: TIFF masks and GeoJSON' },
    { command: 'patho predict -m model.pt --devices cuda:0,1 slides/', help: 'the slides shared between two GPUs, one process each' },
  ],
});

/** `patho info` */
export const INFO = defineCommand({
  name: 'info',
  summary: "describe a checkpoint and this machine's libtorch",
  description:
    'Describe a checkpoint: architecture, training configuration, data normalisation, best validation Dice; and the libtorch version and device this machine would use.',
  options: [
    model,
    { name: 'json', type: 'boolean', help: 'print one JSON object' },
    {
      name: 'config',
      type: 'boolean',
      help: "print the run's plan as a JSON file for patho train --config (a checkpoint without a plan: the options it records)",
    },
    verbose,
  ],
  exclusive: [['json', 'config']],
  examples: [
    { command: 'patho info', help: 'describe data/model.pt' },
    { command: 'patho info --model runs/glas/model.pt --json', help: 'as JSON' },
    { command: 'patho info --model runs/glas/model.pt --config > glas.json', help: "the run's plan, for patho train --config glas.json" },
  ],
});

/** `patho report` */
export const REPORT = defineCommand({
  name: 'report',
  summary: 'write the HTML report of a training run',
  description:
    "Write RUN_DIR/report.html, one self-contained page: the run's loss, Dice/IoU, learning-rate and throughput curves; the saved model scored again on the run's validation images (per image, a threshold sweep, the worst and best images with ground truth and prediction compared on them: agreement outlined green, misses tinted blue, false alarms orange); the configuration, normalisation, libtorch and device. The predictions go to RUN_DIR/validation/, where patho serve shows them. patho train writes the report at its end.",
  options: [
    { name: 'model', short: 'm', type: 'string', metavar: 'FILE', help: 'checkpoint to score (default: RUN_DIR/model.pt)' },
    { name: 'out', short: 'o', type: 'string', metavar: 'FILE', help: 'where the page goes (default: RUN_DIR/report.html)' },
    {
      name: 'data',
      type: 'string',
      metavar: 'DIR',
      help: 'score this folder of images and masks instead of the validation images the checkpoint recorded',
    },
    images,
    masks,
    foreground,
    { name: 'examples', type: 'int', metavar: 'N', default: 3, min: 0, help: 'worst and best images shown (N of each)' },
    devices,
    threads,
    verbose,
  ],
  positionals: [{ name: 'RUN_DIR', help: 'the --out folder of patho train (with train.jsonl and model.pt)', required: true }],
  examples: [
    { command: 'patho report data/', help: 'the report of the default run, at data/report.html' },
    { command: 'patho report runs/glas --data glas-test', help: 'score a test folder instead of the validation split' },
  ],
});

/** `patho serve` */
export const SERVE = defineCommand({
  name: 'serve',
  summary: 'look at images and predicted masks in the browser',
  description:
    'Serve a local web page that shows the images of a run or prediction folder with the predicted mask as a coloured overlay (opacity, outline or fill), zoom and pan over deep-zoom tiles, and the ground truth beside it when there is one, or both on one image (agreement green, misses blue, false alarms orange). Only files under DIR are served.',
  options: [
    { name: 'port', short: 'p', type: 'int', metavar: 'N', default: 8080, min: 0, max: 65535, help: 'port to listen on; 0 picks a free one' },
    { name: 'host', type: 'string', metavar: 'ADDR', default: '127.0.0.1', help: 'address to bind; 0.0.0.0 shows the folder to the network' },
    verbose,
  ],
  positionals: [{ name: 'DIR', help: 'a run folder (after patho report) or a patho predict --out folder', required: true }],
  examples: [
    { command: 'patho serve data/', help: "the default run's validation images, at http://127.0.0.1:8080/" },
    { command: 'patho serve --port 9000 data/predictions', help: 'the masks of patho predict' },
  ],
});

/** `patho export` */
export const EXPORT = defineCommand({
  name: 'export',
  summary: 'write a trained model as ONNX, or as a web page that runs it in the browser',
  description:
    'Write a checkpoint as an ONNX model (opset 17) that takes 0-255 pixels [batch, channels, height, width] of any size and returns probabilities: normalisation first, batch norm folded into the convolutions, sigmoid or softmax last; class names, threshold and mpp in its metadata. With --format web, write a self-contained folder for any static web host instead: index.html with the model card, the ONNX model, ONNX Runtime Web and OpenSeadragon; the page segments an image dropped on it in the browser (WebGPU where present, else WebAssembly), tiled and blended as patho predict does, and nothing leaves the machine.',
  options: [
    model,
    { name: 'format', type: 'string', choices: ['onnx', 'web'], default: 'onnx', help: 'onnx (one .onnx file) or web (a folder with the page that runs it)' },
    { name: 'class-names', type: 'list', metavar: 'LIST', help: "names of the output channels (default: foreground for one class, class0,class1,... otherwise)" },
    { name: 'mpp', type: 'number', metavar: 'X', min: 0, help: 'microns per pixel of the training images, written to the metadata' },
    { name: 'threshold', type: 'number', metavar: 'T', min: 0, max: 1, help: "probability threshold written to the metadata (default: the checkpoint's)" },
    verbose,
  ],
  positionals: [{ name: 'OUT', help: 'the .onnx file to write (onnx) or the folder (web)', required: true }],
  examples: [
    { command: 'patho export --model runs/glas/model.pt --format onnx glas.onnx', help: 'the GlaS model for onnxruntime-node or onnxruntime-web' },
    { command: 'patho export -m model.pt --class-names gland --mpp 0.62 glas.onnx', help: 'with a class name and the pixel size' },
    { command: 'patho export --format web -m runs/glas/model.pt site/', help: 'a page that runs the model in any browser; serve site/ with any static server' },
  ],
});

/** Every command, by name. */
export const COMMANDS = { train: TRAIN, plan: PLAN, eval: EVAL, tune: TUNE, predict: PREDICT, info: INFO, report: REPORT, serve: SERVE, export: EXPORT } as const;

/** A command name. */
export type CommandName = keyof typeof COMMANDS;

/** Parsed options of each command. */
export type TrainOptions = OptionsOf<typeof TRAIN>;
export type PlanOptions = OptionsOf<typeof PLAN>;
export type EvalOptions = OptionsOf<typeof EVAL>;
export type TuneOptions = OptionsOf<typeof TUNE>;
export type PredictOptions = OptionsOf<typeof PREDICT>;
export type InfoOptions = OptionsOf<typeof INFO>;
export type ReportOptions = OptionsOf<typeof REPORT>;
export type ServeOptions = OptionsOf<typeof SERVE>;
export type ExportOptions = OptionsOf<typeof EXPORT>;

/** A command to run, or help or the version to print. */
export type CommandLine =
  | { command: 'train'; options: TrainOptions; positionals: string[]; given: string[] }
  | { command: 'plan'; options: PlanOptions; positionals: string[] }
  | { command: 'eval'; options: EvalOptions; positionals: string[] }
  | { command: 'tune'; options: TuneOptions; positionals: string[] }
  | { command: 'predict'; options: PredictOptions; positionals: string[] }
  | { command: 'info'; options: InfoOptions; positionals: string[] }
  | { command: 'report'; options: ReportOptions; positionals: string[] }
  | { command: 'serve'; options: ServeOptions; positionals: string[] }
  | { command: 'export'; options: ExportOptions; positionals: string[] }
  | { command: 'help'; text: string }
  | { command: 'version' };

/**
 * Parses `patho` arguments (argv without node and the script, i.e.
 * `process.argv.slice(2)`). `patho`, `patho --help`, `patho help [COMMAND]`
 * and `patho COMMAND --help` give `{ command: 'help', text }`.
 *
 * @throws UsageError (exit code 2) for an unknown command or a bad option
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') return { command: 'help', text: overviewText() };
  if (first === '--version' || first === '-V') return { command: 'version' };
  if (first === 'help') {
    if (rest.length === 0) return { command: 'help', text: overviewText() };
    return { command: 'help', text: helpText(commandNamed(rest[0])) };
  }
  const parse = <C extends CommandSpec>(spec: C) => {
    const parsed = parseArgs(spec, rest);
    if (parsed.help) return { command: 'help' as const, text: helpText(spec) };
    return { command: parsed.command, options: parsed.options, positionals: parsed.positionals, given: parsed.given };
  };
  switch (commandNamed(first).name) {
    case 'train':
      return parse(TRAIN);
    case 'plan':
      return parse(PLAN);
    case 'eval':
      return parse(EVAL);
    case 'tune':
      return parse(TUNE);
    case 'predict':
      return parse(PREDICT);
    case 'info':
      return parse(INFO);
    case 'report':
      return parse(REPORT);
    case 'serve':
      return parse(SERVE);
    case 'export':
      return parse(EXPORT);
  }
}

function commandNamed(name: string): (typeof COMMANDS)[CommandName] {
  if (Object.hasOwn(COMMANDS, name)) return COMMANDS[name as CommandName];
  const names = Object.keys(COMMANDS);
  const guess = closest(name, names);
  const message = name.startsWith('-')
    ? `expected a command before ${name} (one of ${names.join(', ')})`
    : `unknown command '${name}'` + (guess ? ` (did you mean ${guess}?)` : ` (commands: ${names.join(', ')})`);
  throw new UsageError(message);
}

/** The help text of `patho` itself: the commands and how to get their help. */
export function overviewText(): string {
  const specs = Object.values(COMMANDS);
  const width = Math.max(...specs.map((s) => s.name.length)) + 4;
  return [
    'patho: U-Net segmentation of pathology and microscopy images',
    '',
    'Usage: patho <command> [options]',
    '',
    'Commands:',
    ...specs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`),
    '',
    "Run 'patho <command> --help' for the options of a command.",
    '',
  ].join('\n');
}
