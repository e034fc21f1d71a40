import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CommandSpec, UsageError, parseArgs } from '../../src/cli/args.js';
import { COMMANDS, parseCommandLine, parseThreshold } from '../../src/cli/commands.js';

function usageError(argv: string[], message: string, command = 'patho'): void {
  assert.throws(
    () => parseCommandLine(argv),
    (error: unknown) => error instanceof UsageError && error.message === message && error.command === command && error.exitCode === 2,
    `expected the message: ${message}`,
  );
}

test('patho train with no arguments trains on the membrane set with the documented defaults', () => {
  const line = parseCommandLine(['train']);
  assert.equal(line.command, 'train');
  if (line.command !== 'train') return;
  const o = line.options;
  assert.equal(o.data, 'data/membrane/train');
  assert.equal(o.out, 'data/');
  assert.equal(o.seed, 0);
  assert.deepEqual(o.thresholds, [0.5, 0.7]);
  assert.equal(o.optimizer, 'sgd');
  assert.equal(o.loss, 'bce-jaccard');
  assert.equal(o.batchNorm, true);
  assert.equal(o.valSplit, 0.2);
  assert.equal(o.val, undefined);
  assert.equal(o.earlyStop, 0);
  assert.equal(o.schedule, 'none');
  const lr: number = o.lr;
  const upsample: 'bilinear' | 'transpose' = o.upsample;
  const valNames: string[] | undefined = o.valNames;
  assert.deepEqual([lr, upsample, valNames], [5e-3, 'bilinear', undefined]);
});

test("every option of issue 5's train synopsis parses", () => {
  const line = parseCommandLine(
    (
      'train --data d --images im --masks ma --val-split 0.25 --epochs 2 --batch-size 8 --patch 128 --lr 1e-3 ' +
      '--optimizer adam --momentum 0.9 --loss dice --depth 3 --base-channels 16 --upsample transpose --padding valid ' +
      '--no-batch-norm --preset he --foreground 255 --seed 7 --devices cuda:0,1 --amp --resume --max-minutes 20 --out runs/x ' +
      '--verbose --workers 4 --threads 2 --skip-bad --channels-last --early-stop 5 --nproc 2 --schedule cosine ' +
      '--val-every 3 --checkpoint-every 60 --foreground-oversample 0.5 --sync-bn'
    ).split(' '),
  );
  assert.equal(line.command, 'train');
  if (line.command !== 'train') return;
  assert.deepEqual(
    { ...line.options },
    {
      data: 'd',
      images: 'im',
      masks: 'ma',
      valSplit: 0.25,
      val: undefined,
      valNames: undefined,
      folds: undefined,
      fold: undefined,
      foreground: ['255'],
      slides: undefined,
      annotations: undefined,
      classes: undefined,
      unlabelled: 'ignore',
      mpp: undefined,
      valSlides: undefined,
      samplesPerEpoch: undefined,
      epochs: 2,
      batchSize: 8,
      patch: 128,
      foregroundOversample: 0.5,
      plan: true,
      lr: 1e-3,
      optimizer: 'adam',
      momentum: 0.9,
      loss: 'dice',
      depth: 3,
      baseChannels: 16,
      upsample: 'transpose',
      padding: 'valid',
      batchNorm: false,
      dropout: 0,
      preset: 'he',
      thresholds: [0.5, 0.7],
      schedule: 'cosine',
      earlyStop: 5,
      maxMinutes: 20,
      valEvery: 3,
      checkpointEvery: 60,
      config: undefined,
      resume: true,
      seed: 7,
      out: 'runs/x',
      devices: 'cuda:0,1',
      nproc: 2,
      syncBn: true,
      distTimeout: 300,
      downsample: 1,
      tune: false,
      amp: true,
      channelsLast: true,
      workers: 4,
      threads: 2,
      skipBad: true,
      verbose: true,
    },
  );
});

test('eval, predict and info parse their options and positionals', () => {
  const evaluation = parseCommandLine(['eval', '--model', 'm.pt', '--thresholds', '0.3,0.5', '--json']);
  assert.equal(evaluation.command, 'eval');
  if (evaluation.command === 'eval') {
    assert.equal(evaluation.options.model, 'm.pt');
    assert.deepEqual(evaluation.options.thresholds, [0.3, 0.5]);
    assert.equal(evaluation.options.json, true);
    assert.equal(evaluation.options.data, 'data/membrane/train');
  }
  const prediction = parseCommandLine(['predict', 'a.png', '--threshold=0.6', 'b.png', '--probabilities', '--no-overlay']);
  assert.equal(prediction.command, 'predict');
  if (prediction.command === 'predict') {
    assert.deepEqual(prediction.positionals, ['a.png', 'b.png']);
    assert.equal(prediction.options.model, 'data/model.pt');
    assert.equal(prediction.options.threshold, '0.6');
    assert.equal(prediction.options.probabilities, true);
    assert.equal(prediction.options.overlay, false);
  }
  const info = parseCommandLine(['info', '-m', 'x.pt']);
  assert.deepEqual(info, { command: 'info', options: { model: 'x.pt', json: false, config: false, verbose: false }, positionals: [], given: ['model'] });
});

test("--threshold of predict and eval: auto (the model's, the default) or a probability; anything else is exit 2", () => {
  const prediction = parseCommandLine(['predict', 'a.png']);
  assert.ok(prediction.command === 'predict' && prediction.options.threshold === 'auto');
  const evaluation = parseCommandLine(['eval']);
  assert.ok(evaluation.command === 'eval' && evaluation.options.threshold === 'auto');
  assert.equal(parseThreshold('auto', 'patho eval'), 'auto');
  assert.equal(parseThreshold('0.55', 'patho eval'), 0.55);
  assert.equal(parseThreshold('0', 'patho eval'), 0);
  assert.equal(parseThreshold('1', 'patho eval'), 1);
  for (const bad of ['1.5', '-0.1', 'x', '', 'NaN']) {
    assert.throws(() => parseThreshold(bad, 'patho eval'), (e: unknown) => e instanceof UsageError && e.exitCode === 2 &&
      e.message === `--threshold expects a number from 0 to 1 or auto, got '${bad}'`);
  }
});

test('help: patho, patho --help, patho help train, patho train -h', () => {
  for (const argv of [[], ['--help'], ['-h'], ['help']]) {
    const line = parseCommandLine(argv);
    assert.equal(line.command, 'help');
    if (line.command === 'help') assert.match(line.text, /Commands:\n {2}train +train a U-Net/);
  }
  for (const argv of [['help', 'train'], ['train', '-h'], ['train', '--epochs', 'x', '--help']]) {
    const line = parseCommandLine(argv);
    assert.equal(line.command, 'help');
    if (line.command === 'help') {
      assert.match(line.text, /^Usage: patho train \[options\]\n/);
      assert.match(line.text, /--\[no-\]batch-norm/);
      assert.match(line.text, /\nExamples:\n {2}patho train\n/);
    }
  }
  const predict = parseCommandLine(['predict', '--help']);
  assert.ok(predict.command === 'help' && predict.text.startsWith('Usage: patho predict [options] INPUT...\n'));
  assert.deepEqual(parseCommandLine(['--version']), { command: 'version' });
});

test('mistakes on the command line give their messages and exit code 2', () => {
  usageError(['trian'], "unknown command 'trian' (did you mean train?)");
  usageError(['fit'], "unknown command 'fit' (commands: train, plan, eval, tune, predict, info, report, serve, export)");
  usageError(['--epochs', '3'], 'expected a command before --epochs (one of train, plan, eval, tune, predict, info, report, serve, export)');
  usageError(['help', 'nope'], "unknown command 'nope' (commands: train, plan, eval, tune, predict, info, report, serve, export)");
  usageError(['train', '--xyzzy'], "unknown option --xyzzy for 'patho train'", 'patho train');
  usageError(['train', '--lt', '0.1'], "unknown option --lt for 'patho train' (did you mean --lr?)", 'patho train');
  usageError(['train', '--epochs', 'x'], "--epochs expects an integer, got 'x'", 'patho train');
  usageError(['train', '--optimizer', 'rmsprop'], "--optimizer must be one of sgd, adam (got 'rmsprop')", 'patho train');
  usageError(['train', '--loss', 'jaccard'], "--loss must be one of bce, bce-jaccard, dice, bce-dice (got 'jaccard')", 'patho train');
  usageError(['train', '--val', 'v', '--val-split', '0.1'], '--val-split and --val cannot be used together', 'patho train');
  usageError(['train', '--val-names', '25,26', '--val', 'v'], '--val and --val-names cannot be used together', 'patho train');
  usageError(['train', 'extra'], "'patho train' takes no positional arguments (got 'extra')", 'patho train');
  usageError(['eval', '--thresholds', '0.5,2'], '--thresholds must be at most 1, got 2', 'patho eval');
  usageError(['predict', '--out', 'x'], "'patho predict' needs at least one INPUT", 'patho predict');
  usageError(['info', '--epochs', '3'], "unknown option --epochs for 'patho info'", 'patho info');
});

test('every default satisfies its own option (type, choices, range)', () => {
  for (const spec of Object.values(COMMANDS) as CommandSpec[]) {
    for (const option of spec.options) {
      const value = option.default;
      if (value === undefined || typeof value === 'boolean') continue;
      const text = Array.isArray(value) ? value.join(',') : String(value);
      const parsed = parseArgs(spec, [`--${option.name}`, text, ...(spec.positionals ? ['input.png'] : [])]).options as Record<string, unknown>;
      const key = option.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      assert.deepEqual(parsed[key], value, `${spec.name} --${option.name}`);
    }
  }
});

test('help texts fit 80 columns', () => {
  for (const name of Object.keys(COMMANDS)) {
    const line = parseCommandLine([name, '--help']);
    assert.ok(line.command === 'help');
    for (const row of line.text.split('\n')) assert.ok(row.length <= 80, `${name}: ${row}`);
  }
});
