/** `patho export` as a user runs it: a child process of bin/patho.js; bad input ends with exit code 2 and its message. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { unetWithStatistics } from '../infer/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-export-'));
const model = join(dir, 'model.pt');
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  const net = unetWithStatistics({ inChannels: 3, classes: 2, baseChannels: 4, depth: 2 });
  await saveCheckpoint(model, {
    format: CHECKPOINT_FORMAT, epoch: 1, unet: net.options, training: {}, normalization: { mean: [0.8, 0.6, 0.8], std: [0.2, 0.2, 0.2] },
    threshold: 0.45, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  net.dispose();
});

function patho(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/patho.js', 'export', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("patho export --model m.pt --format onnx OUT.onnx writes a model ONNX Runtime runs, with the checkpoint's threshold", async () => {
  const out = join(dir, 'model.onnx');
  const r = patho('--model', model, '--format', 'onnx', '--class-names', 'background,gland', '--mpp', '0.5', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /-> .*model\.onnx \(ONNX, class_names=\["background","gland"\], threshold=0\.45, .*mpp=0\.5\)/);
  const session = await ort.InferenceSession.create(out);
  const result = await session.run({ pixels: new ort.Tensor('float32', new Float32Array(3 * 20 * 30).fill(200), [1, 3, 20, 30]) });
  const p = result.probabilities.data as Float32Array;
  assert.deepEqual(result.probabilities.dims, [1, 2, 20, 30]);
  for (let i = 0; i < 600; i++) assert.ok(Math.abs(p[i] + p[600 + i] - 1) < 1e-6, 'softmax over the two classes');
  await session.release();
});

test('patho export: a missing model, a format it does not write, class names that do not fit: exit 2 with the reason', () => {
  const missing = patho('--model', join(dir, 'nope.pt'), join(dir, 'x.onnx'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--model .*nope\.pt: no such file/);
  const format = patho('--model', model, '--format', 'tflite', join(dir, 'x.onnx'));
  assert.equal(format.code, 2);
  assert.match(format.stderr, /--format/);
  const names = patho('--model', model, '--class-names', 'gland', join(dir, 'x.onnx'));
  assert.equal(names.code, 2, names.stderr);
  assert.match(names.stderr, /2 output channels, 1 names were given/);
  assert.doesNotMatch(names.stderr, /\n\s+at /);
});
