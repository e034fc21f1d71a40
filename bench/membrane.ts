/**
 * The first real result (issue 5): `patho train` on the bundled membrane set
 * for a fixed time budget, then the PyTorch equivalent (bench/membrane_torch.py)
 * with the same network, loss, optimizer, augmentation, split, precision and
 * budget, in the same run; prints validation Dice of the cell-interior and the
 * membrane class at 0.5 and 0.7, time and images/s, side by side.
 *
 *   node dist/bench/membrane.js [--minutes 20] [--python /usr/bin/python3] [--skip-torch]
 *     [--base 32] [--optimizer adam] [--lr 1e-3] [--preset rigid] [--schedule none] [--val-every 1] [--out DIR]
 *     [--torch-malloc default|patho|both]
 *
 * patho keeps freed tensor memory for reuse (glibc's mmap threshold at its
 * 32 MiB maximum, no heap trimming: src/tensor/native.ts); the PyTorch script
 * runs with glibc's defaults, as users run it. `--torch-malloc patho` runs it
 * with patho's settings through glibc's environment variables instead, and
 * `both` runs it twice, to show how much of the difference is the allocator.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    python: { type: 'string', default: process.env.PYTHON ?? '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
    base: { type: 'string', default: '32' },
    optimizer: { type: 'string', default: 'adam' },
    lr: { type: 'string', default: '1e-3' },
    preset: { type: 'string', default: 'rigid' },
    // cosine/poly/step decay over the time budget, step by step, on both sides
    schedule: { type: 'string', default: 'none' },
    'val-every': { type: 'string', default: '1' },
    out: { type: 'string' },
    'torch-malloc': { type: 'string', default: 'default' },
  },
});
const TORCH_MALLOC: Record<string, Record<string, string>[]> = {
  default: [{}],
  patho: [{ MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(2 ** 31 - 1) }],
};
TORCH_MALLOC.both = [...TORCH_MALLOC.default, ...TORCH_MALLOC.patho];
const torchRuns = TORCH_MALLOC[values['torch-malloc']!];
if (!torchRuns) throw new Error(`--torch-malloc ${values['torch-malloc']}: default, patho or both`);
const VAL = '25,26,27,28,29';
if (!values['skip-torch'] && !['rigid', 'none'].includes(values.preset!)) throw new Error(`--preset ${values.preset}: the PyTorch script matches rigid and none only`);
const common = { base: values.base!, patch: '256', batch: '4', optimizer: values.optimizer!, lr: values.lr! };
const out = values.out ?? mkdtempSync(join(tmpdir(), 'patho-membrane-'));

const pathoArgs = [
  join(root, 'bin/patho.js'), 'train', '--data', join(root, 'data/membrane/train'), '--val-names', VAL, '--seed', '0',
  '--epochs', '100000', '--max-minutes', values.minutes!, '--base-channels', common.base, '--patch', common.patch,
  '--batch-size', common.batch, '--optimizer', common.optimizer, '--lr', common.lr, '--preset', values.preset!,
  '--schedule', values.schedule!, '--val-every', values['val-every']!,
  // last.pt every 2 minutes instead of after every 5-second epoch (PyTorch's script writes none)
  '--checkpoint-every', '120',
  '--amp', '--channels-last', '--workers', '1', '--threads', '2', '--out', out,
  // the settings matched with the PyTorch script, not a plan (which would also fill --depth)
  '--no-plan',
];
console.log(`patho: node ${pathoArgs.slice(1).join(' ')}`);
const started = performance.now();
const run = spawnSync(process.execPath, pathoArgs, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (run.status !== 0) {
  console.error(run.stderr);
  process.exit(1);
}
const wall = (performance.now() - started) / 60000;
type Epoch = { epoch: number; dice: Record<string, number>; backgroundDice: Record<string, number>; imagesPerSecond: number; seconds: number };
const epochs = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Epoch);
const scored = epochs.filter((e) => e.dice['0.5'] !== undefined);
// the best epoch is picked on the validation images themselves, so it flatters; the last one does not
const best = scored.reduce((a, b) => (b.dice['0.5'] > a.dice['0.5'] ? b : a));
const last = scored[scored.length - 1];
// every epoch trains the same number of images: all images over all training seconds is the harmonic mean
const trainRate = epochs.length / epochs.reduce((s, e) => s + 1 / e.imagesPerSecond, 0);

const rows: string[][] = [
  ['', 'patho', 'PyTorch'],
  ['cell Dice @0.5', best.dice['0.5'].toFixed(4), ''],
  ['cell Dice @0.7', best.dice['0.7'].toFixed(4), ''],
  ['membrane Dice @0.5', best.backgroundDice['0.5'].toFixed(4), ''],
  ['membrane Dice @0.7', best.backgroundDice['0.7'].toFixed(4), ''],
  ['best epoch / epochs', `${best.epoch} / ${epochs.length}`, ''],
  ['last epoch: cell @0.5', last.dice['0.5'].toFixed(4), ''],
  ['last epoch: membr. @0.5', last.backgroundDice['0.5'].toFixed(4), ''],
  ['train images/s', trainRate.toFixed(2), ''],
  ['minutes (wall)', wall.toFixed(1), ''],
];

if (!values['skip-torch']) {
  const script = join(root, 'bench/membrane_torch.py');
  const args = [script, '--data', join(root, 'data/membrane/train'), '--val-names', VAL, '--minutes', values.minutes!,
    '--base', common.base, '--patch', common.patch, '--batch', common.batch, '--optimizer', common.optimizer, '--lr', common.lr,
    '--schedule', values.schedule!, '--val-every', values['val-every']!, '--augment', values.preset!, '--amp', 'bfloat16', '--channels-last', '--threads', '2'];
  torchRuns.forEach((malloc, run) => {
    const column = run + 2;
    const settings = Object.entries(malloc).map(([k, v]) => `${k}=${v} `).join('');
    if (torchRuns.length > 1) rows[0][column] = settings ? 'PyTorch, patho malloc' : 'PyTorch';
    console.log(`PyTorch: ${settings}${values.python} ${args.join(' ')}`);
    const text = execFileSync(values.python!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, env: { ...process.env, ...malloc } });
    const records = text.trim().split('\n').map((l) => JSON.parse(l));
    const summary = records.find((r) => r.summary);
    const final = records.filter((r) => r.dice).pop();
    const b = summary.best;
    rows[1][column] = b.dice['0.5'].cell.toFixed(4);
    rows[2][column] = b.dice['0.7'].cell.toFixed(4);
    rows[3][column] = b.dice['0.5'].membrane.toFixed(4);
    rows[4][column] = b.dice['0.7'].membrane.toFixed(4);
    rows[5][column] = `${b.epoch} / ${summary.epochs}`;
    rows[6][column] = final.dice['0.5'].cell.toFixed(4);
    rows[7][column] = final.dice['0.5'].membrane.toFixed(4);
    rows[8][column] = summary.imagesPerSecond.toFixed(2);
    rows[9][column] = summary.minutes.toFixed(1);
  });
}
console.log(`\nmembrane, validation images ${VAL}, ${values.minutes} min budget, base ${common.base}, ${common.optimizer} lr ${common.lr}, ` +
  `patch ${common.patch}, batch ${common.batch}, preset ${values.preset}, schedule ${values.schedule}, validation every ${values['val-every']} epochs, bf16 autocast + channels-last, 2 threads`);
for (const [label, ...cells] of rows) console.log(label.padEnd(24) + cells.map((c) => (c ?? '').padStart(22)).join(''));
console.log(`patho run folder: ${out}`);
