import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError, camelCase, closest, defineCommand, helpText, parseArgs } from '../../src/cli/args.js';

const demo = defineCommand({
  name: 'demo',
  summary: 'a command for the tests',
  options: [
    { name: 'epochs', short: 'e', type: 'int', default: 5, min: 1, help: 'passes' },
    { name: 'lr', type: 'number', default: 0.01, help: 'learning rate' },
    { name: 'optimizer', type: 'string', choices: ['sgd', 'adam'], default: 'sgd', help: 'optimizer' },
    { name: 'out', type: 'string', metavar: 'DIR', help: 'output folder' },
    { name: 'batch-norm', type: 'boolean', default: true, help: 'batch norm' },
    { name: 'amp', type: 'boolean', help: 'autocast' },
    { name: 'thresholds', type: 'list', items: 'number', default: [0.5, 0.7], min: 0, max: 1, help: 'thresholds' },
    { name: 'formats', type: 'list', choices: ['png', 'tiff'], help: 'formats' },
  ],
  positionals: [{ name: 'INPUT', help: 'inputs', variadic: true }],
  exclusive: [['lr', 'optimizer']],
  examples: [{ command: 'patho demo -e 3 a.png', help: 'three epochs' }],
});

const parse = (...argv: string[]) => parseArgs(demo, argv);

function usageError(argv: string[], message: string): void {
  assert.throws(
    () => parseArgs(demo, argv),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      assert.equal(error.exitCode, 2);
      assert.equal(error.hint, "Run 'patho demo --help' for usage.");
      return true;
    },
  );
}

test('no arguments give the defaults, camelCased', () => {
  const { options, positionals, help, command } = parse();
  assert.equal(command, 'demo');
  assert.deepEqual(options, {
    epochs: 5,
    lr: 0.01,
    optimizer: 'sgd',
    out: undefined,
    batchNorm: true,
    amp: false,
    thresholds: [0.5, 0.7],
    formats: undefined,
  });
  assert.deepEqual(positionals, []);
  assert.equal(help, false);
});

test('--opt value, --opt=value, -x value, switches and negations', () => {
  const { options, positionals } = parse('--epochs', '3', '--lr=1e-3', '-e', '4', '--amp', '--no-batch-norm', '--out', 'runs/a', 'x.png');
  assert.equal(options.epochs, 4); // the later of two wins
  assert.equal(options.lr, 0.001);
  assert.equal(options.amp, true);
  assert.equal(options.batchNorm, false);
  assert.equal(options.out, 'runs/a');
  assert.deepEqual(positionals, ['x.png']);
  assert.equal(parse('--amp=false').options.amp, false);
  assert.equal(parse('--batch-norm=true').options.batchNorm, true);
});

test('parsed options are typed from the declaration', () => {
  const { options } = parse();
  const epochs: number = options.epochs;
  const optimizer: 'sgd' | 'adam' = options.optimizer;
  const out: string | undefined = options.out;
  const formats: ('png' | 'tiff')[] | undefined = options.formats;
  // @ts-expect-error a number is not a string
  const wrong: string = options.epochs;
  assert.deepEqual([epochs, optimizer, out, formats, typeof wrong], [5, 'sgd', undefined, undefined, 'number']);
});

test('lists split on commas, check each item, and append when repeated', () => {
  assert.deepEqual(parse('--thresholds', '0.3, 0.6').options.thresholds, [0.3, 0.6]);
  assert.deepEqual(parse('--thresholds', '0.3', '--thresholds=0.4,0.5').options.thresholds, [0.3, 0.4, 0.5]);
  assert.deepEqual(parse('--formats', 'png,tiff').options.formats, ['png', 'tiff']);
  usageError(['--thresholds', '0.5,x'], "--thresholds expects a comma-separated list of numbers, got '0.5,x'");
  usageError(['--thresholds', '0.5,,0.7'], "--thresholds expects a comma-separated list of numbers, got '0.5,,0.7'");
  usageError(['--thresholds', '0.5,1.5'], '--thresholds must be at most 1, got 1.5');
  usageError(['--formats', 'png,jpeg'], "--formats must be one of png, tiff (got 'jpeg')");
});

test('negative numbers and - are values; -- ends the options', () => {
  assert.equal(parse('--lr', '-0.5').options.lr, -0.5);
  assert.deepEqual(parse('-', '--', '--amp', '-e').positionals, ['-', '--amp', '-e']);
  assert.equal(parse('--', '--help').help, false);
});

test('-h or --help anywhere asks for help, even after a mistake', () => {
  assert.equal(parse('-h').help, true);
  assert.equal(parse('--foo', '--help').help, true);
});

test('bad values give messages that name the option and the value', () => {
  usageError(['--epochs', 'x'], "--epochs expects an integer, got 'x'");
  usageError(['--epochs=2.5'], "--epochs expects an integer, got '2.5'");
  usageError(['--epochs', '0'], '--epochs must be at least 1, got 0');
  usageError(['--lr', 'fast'], "--lr expects a number, got 'fast'");
  usageError(['--lr='], "--lr expects a number, got ''");
  usageError(['--optimizer', 'rmsprop'], "--optimizer must be one of sgd, adam (got 'rmsprop')");
  usageError(['--out'], '--out expects a value');
  usageError(['--out', '--amp'], '--out expects a value');
  usageError(['--epochs'], '--epochs expects an integer');
  usageError(['--amp=yes'], "--amp is a switch and takes no value (got 'yes'); use --amp or --no-amp");
  usageError(['--no-amp=1'], "--no-amp takes no value (got '1')");
  usageError(['--lr', '0.1', '--optimizer', 'adam'], '--lr and --optimizer cannot be used together');
});

test('unknown options suggest the nearest known one', () => {
  usageError(['--foo'], "unknown option --foo for 'patho demo'");
  usageError(['--epoch', '3'], "unknown option --epoch for 'patho demo' (did you mean --epochs?)");
  usageError(['--optimiser', 'adam'], "unknown option --optimiser for 'patho demo' (did you mean --optimizer?)");
  usageError(['--batchnorm'], "unknown option --batchnorm for 'patho demo' (did you mean --batch-norm?)");
  usageError(['--no-lr'], '--no-lr is not an option: --lr takes a value and cannot be negated');
  usageError(['-x'], "unknown option -x for 'patho demo'");
});

test('positionals: none allowed, a required one missing', () => {
  const none = defineCommand({ name: 'info', summary: 'x', options: [] });
  assert.throws(() => parseArgs(none, ['a', 'b']), { message: "'patho info' takes no positional arguments (got 'a', 'b')" });
  const one = defineCommand({ name: 'one', summary: 'x', options: [], positionals: [{ name: 'FILE', help: 'f', required: true }] });
  assert.throws(() => parseArgs(one, []), { message: "'patho one' needs FILE" });
  assert.throws(() => parseArgs(one, ['a', 'b']), { message: "'patho one' takes at most 1 positional argument(s) (got 'b')" });
  assert.deepEqual(parseArgs(one, ['a']).positionals, ['a']);
});

test('help text lists usage, options with defaults, and examples', () => {
  const text = helpText(demo);
  assert.match(text, /^Usage: patho demo \[options\] \[INPUT\.\.\.\]\n/);
  assert.match(text, /\n {2}-e, --epochs INT +passes \(default: 5\)\n/);
  assert.match(text, /\n {2}--optimizer sgd\|adam +optimizer \(default: sgd\)\n/);
  assert.match(text, /\n {2}--\[no-\]batch-norm +batch norm \(default: on\)\n/);
  assert.match(text, /\n {2}--amp +autocast\n/);
  assert.match(text, /\n {2}--thresholds LIST +thresholds \(default: 0\.5,0\.7\)\n/);
  assert.match(text, /\n {2}-h, --help +show this help\n/);
  assert.match(text, /\nExamples:\n {2}patho demo -e 3 a\.png\n {6}three epochs\n$/);
  for (const line of text.split('\n')) assert.ok(line.length <= 80, `too long: ${line}`);
});

test('camelCase and closest', () => {
  assert.equal(camelCase('max-minutes'), 'maxMinutes');
  assert.equal(camelCase('val-names'), 'valNames');
  assert.equal(closest('trian', ['train', 'eval']), 'train');
  assert.equal(closest('zzz', ['train', 'eval']), undefined);
  assert.equal(closest('val', ['val-split', 'epochs']), 'val-split');
});
