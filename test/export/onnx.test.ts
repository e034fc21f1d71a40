/**
 * ONNX export run in ONNX Runtime (onnxruntime-node, CPU) against libtorch,
 * on real images (an EM image of the membrane set, an H&E crop of GlaS) at
 * several sizes, sizes that need the in-graph padding and cropping included.
 *
 * Tolerance: both engines compute in float32 with different kernels, so each
 * must be about as close to the float64 result of the training graph as the
 * other: ONNX Runtime's largest distance from float64 may be at most a few
 * times libtorch float32's own (the rounding error of this network on this
 * input), rather than a hand-set constant.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { decodeImageFile } from '../../src/data/decode.js';
import { normalizeInPlace, type ChannelStats } from '../../src/data/normalize.js';
import { cropImage } from '../../src/data/patch.js';
import type { RawImage } from '../../src/data/raw.js';
import { exportOnnx, onnxModelBytes, ONNX_OPSET } from '../../src/export/onnx.js';
import type { UNet, UNetOptions } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad, setNumThreads } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { unetWithStatistics } from '../infer/helpers.js';

setNumThreads(2);
const dir = mkdtempSync(join(tmpdir(), 'patho-onnx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** [channels, h, w] planar pixels of a region, as 0..255 floats (what the ONNX model takes). */
function pixels(raw: RawImage, x: number, y: number, w: number, h: number): Float32Array {
  const scaled = cropImage(raw, { x, y }, h, w).data; // 0..1
  return scaled.map((v) => v * 255);
}

function libtorchProbabilities(net: UNet, planar: Float32Array, shape: number[], stats: ChannelStats, dtype: 'float32' | 'float64'): Float64Array {
  const normalised = planar.map((v) => v / 255);
  const image = normalised.length / shape[0];
  for (let n = 0; n < shape[0]; n++) normalizeInPlace(normalised.subarray(n * image, (n + 1) * image), shape[1], stats);
  return noGrad(() => tidy(() => {
    const x = tensor(normalised, shape).to(dtype);
    return Float64Array.from(net.probabilities(net.forward(x)).to('float64').toArray() as Float64Array);
  }));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

const cases: { name: string; file: string; options: UNetOptions; stats: ChannelStats; regions: [number, number, number, number][] }[] = [
  {
    name: 'membrane EM (1 channel, sigmoid)',
    file: 'data/membrane/train/images/0.png',
    options: { inChannels: 1, baseChannels: 8, depth: 4 },
    stats: { mean: [0.49], std: [0.17] },
    regions: [[0, 0, 512, 512], [40, 100, 300, 217], [7, 3, 64, 45]],
  },
  {
    name: 'GlaS H&E (3 channels, 3-class softmax, transposed upsampling)',
    file: 'test/fixtures/glas/train_1_crop.png',
    options: { inChannels: 3, classes: 3, baseChannels: 8, depth: 3, upsample: 'transpose' },
    stats: { mean: [0.79, 0.55, 0.77], std: [0.16, 0.22, 0.13] },
    regions: [[0, 0, 240, 180], [13, 21, 97, 64]],
  },
];

for (const c of cases) {
  test(`ONNX Runtime == libtorch on ${c.name} at ${c.regions.map((r) => `${r[2]}x${r[3]}`).join(', ')}, within float32 rounding`, async (t) => {
    const net = unetWithStatistics(c.options, 3);
    const start = memory().numTensors;
    const session = await ort.InferenceSession.create(onnxModelBytes(net, { normalization: c.stats, threshold: 0.5 }));
    assert.equal(memory().numTensors, start, 'the export leaves no tensors behind');
    const raw = await decodeImageFile(c.file);
    for (const [x, y, w, h] of c.regions) {
      const planar = pixels(raw, x, y, w, h);
      const batch = new Float32Array(2 * planar.length);
      batch.set(planar);
      batch.set(planar.map((v) => 255 - v), planar.length); // a second, inverted image: the batch dimension is dynamic too
      const shape = [2, raw.channels, h, w];
      const result = await session.run({ pixels: new ort.Tensor('float32', batch, shape) });
      const onnx = result.probabilities;
      assert.deepEqual(onnx.dims, [2, c.options.classes ?? 1, h, w]);
      const torch32 = libtorchProbabilities(net, batch, shape, c.stats, 'float32');
      net.to('float64');
      const exact = libtorchProbabilities(net, batch, shape, c.stats, 'float64');
      net.to('float32');
      const onnxError = maxDiff(onnx.data as Float32Array, exact);
      const torchError = maxDiff(torch32, exact);
      const between = maxDiff(onnx.data as Float32Array, torch32);
      t.diagnostic(`${w}x${h}: |onnx - libtorch| <= ${between.toExponential(2)}; from float64: onnx ${onnxError.toExponential(2)}, libtorch ${torchError.toExponential(2)}`);
      assert.ok(torchError > 0, 'float32 libtorch should round somewhere');
      assert.ok(
        onnxError <= 4 * torchError,
        `${w}x${h}: ONNX Runtime differs from float64 by ${onnxError}, libtorch float32 by ${torchError} (from each other by ${between})`,
      );
    }
    await session.release();
    assert.equal(memory().numTensors, start);
    net.dispose();
  });
}

/** The metadata_props (ModelProto field 14) of an ONNX file, read with a few lines of protobuf. */
function metadataProps(bytes: Uint8Array): Record<string, string> {
  const fields = (buf: Uint8Array): [number, Uint8Array | bigint][] => {
    const out: [number, Uint8Array | bigint][] = [];
    let at = 0;
    const varint = (): bigint => {
      let v = 0n;
      for (let shift = 0n; ; shift += 7n) {
        const b = buf[at++];
        v |= BigInt(b & 0x7f) << shift;
        if (b < 0x80) return v;
      }
    };
    while (at < buf.length) {
      const key = Number(varint());
      const wire = key & 7;
      if (wire === 0) out.push([key >> 3, varint()]);
      else if (wire === 2) {
        const n = Number(varint());
        out.push([key >> 3, buf.subarray(at, at + n)]);
        at += n;
      } else if (wire === 5) at += 4;
      else throw new Error(`unexpected wire type ${wire}`);
    }
    return out;
  };
  const text = (b: Uint8Array | bigint) => new TextDecoder().decode(b as Uint8Array);
  const props: Record<string, string> = {};
  for (const [field, value] of fields(bytes)) {
    if (field !== 14) continue;
    const entry = new Map(fields(value as Uint8Array));
    props[text(entry.get(1)!)] = text(entry.get(2)!);
  }
  return props;
}

test(`exportOnnx from a checkpoint: opset ${ONNX_OPSET}, dynamic batch/height/width, class names, threshold and mpp in the metadata`, async () => {
  const net = unetWithStatistics({ inChannels: 3, baseChannels: 4, depth: 2 });
  const checkpoint = join(dir, 'model.pt');
  const stats = { mean: [0.8, 0.6, 0.8], std: [0.2, 0.2, 0.2] };
  await saveCheckpoint(checkpoint, {
    format: CHECKPOINT_FORMAT, epoch: 3, unet: net.options, training: {}, normalization: stats,
    threshold: 0.4, bestDice: 0.9, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  const out = join(dir, 'model.onnx');
  const written = await exportOnnx(checkpoint, out, { classNames: ['gland'], mpp: 0.62 });
  const props = metadataProps(readFileSync(out));
  assert.deepEqual(props, written);
  assert.deepEqual(JSON.parse(props.class_names), ['gland']);
  assert.equal(props.threshold, '0.4');
  assert.equal(props.mpp, '0.62');
  assert.equal(props.input_range, '0-255');
  assert.deepEqual(JSON.parse(props.normalization), stats);

  const session = await ort.InferenceSession.create(out);
  assert.deepEqual(session.inputNames, ['pixels']);
  assert.deepEqual(session.outputNames, ['probabilities']);
  const input = session.inputMetadata[0] as { shape: readonly (number | string)[] };
  assert.deepEqual(input.shape, ['batch', 3, 'height', 'width']);
  // sizes in one session: batch 1 and 3, odd heights and widths
  for (const [n, h, w] of [[1, 33, 21], [3, 8, 40]]) {
    const result = await session.run({ pixels: new ort.Tensor('float32', new Float32Array(n * 3 * h * w).fill(128), [n, 3, h, w]) });
    assert.deepEqual(result.probabilities.dims, [n, 1, h, w]);
    for (const p of result.probabilities.data as Float32Array) assert.ok(p > 0 && p < 1);
  }
  await session.release();
  net.dispose();
});

test('export refuses what the graph cannot express, naming it', async () => {
  const valid = unetWithStatistics({ inChannels: 1, baseChannels: 4, depth: 2, padding: 'valid' });
  assert.throws(() => onnxModelBytes(valid, { normalization: null, threshold: 0.5 }), /padding 'same'; this one has padding 'valid'/);
  valid.dispose();
  const twoClasses = unetWithStatistics({ inChannels: 1, classes: 2, baseChannels: 4, depth: 2 });
  assert.throws(() => onnxModelBytes(twoClasses, { normalization: null, threshold: 0.5, classNames: ['a'] }), /2 output channels, 1 names were given/);
  twoClasses.dispose();
});
