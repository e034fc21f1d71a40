/**
 * CUDA paths, run on a GPU machine (scripts/gpu-check.sh) and skipped with a
 * visible reason elsewhere: ops and a training step on the GPU agree with the
 * CPU, bfloat16 autocast and channels-last run, pinned-memory batches arrive,
 * and a one-rank NCCL process group all-reduces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchToTensors } from '../../src/data/tensors.js';
import { UNet } from '../../src/models/unet.js';
import { freePort } from '../../src/parallel/launch.js';
import { ProcessGroup } from '../../src/parallel/group.js';
import { SGD } from '../../src/optim/sgd.js';
import { conv2d, binaryCrossEntropyWithLogits } from '../../src/tensor/ops.js';
import { randn, tensor } from '../../src/tensor/create.js';
import { autocast, cuda, manualSeed, memory } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';

const skip = cuda.isAvailable() ? false : 'no CUDA device (run scripts/gpu-check.sh on a GPU machine)';

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

test('conv2d [2,3,33,47] x [8,3,3,3] on cuda:0 equals the CPU result', { skip }, () => {
  tidy(() => {
    const x = randn([2, 3, 33, 47]);
    const w = randn([8, 3, 3, 3]);
    const cpu = conv2d(x, w, null, { padding: 1 }).toFloat32Array();
    const gpu = conv2d(x.to('cuda:0'), w.to('cuda:0'), null, { padding: 1 });
    assert.equal(gpu.device, 'cuda:0');
    // TF32 may be on for cuDNN convolutions: compare at its precision
    assert.ok(maxRelativeDifference(gpu.toFloat32Array(), cpu) < 5e-3);
  });
});

test('a U-Net training step on cuda:0 (bf16 autocast, channels-last) lowers the loss and frees its tensors', { skip }, () => {
  manualSeed(0);
  const before = memory().numTensors;
  const net = new UNet({ baseChannels: 8, depth: 3 }).to('cuda:0').toMemoryFormat('channelsLast');
  const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
  const x = tidy(() => randn([4, 1, 64, 64]).to('cuda:0').contiguous('channelsLast')).keep();
  const y = tidy(() => x.gt(0).to('float32')).keep();
  const losses: number[] = [];
  for (let i = 0; i < 20; i++) {
    losses.push(tidy(() => {
      const logits = autocast('cuda', 'bfloat16', () => net.forward(x)).to('float32');
      const loss = binaryCrossEntropyWithLogits(logits, y);
      loss.backward();
      return loss.item();
    }));
    opt.step();
    opt.zeroGrad();
  }
  assert.ok(losses[19] < losses[0], `loss went from ${losses[0]} to ${losses[19]}`);
  x.dispose();
  y.dispose();
  opt.dispose();
  net.dispose();
  assert.equal(memory().numTensors, before);
});

test('host batches reach cuda:0 through pinned memory with the right values', { skip }, () => {
  tidy(() => {
    const images = Float32Array.from({ length: 2 * 1 * 4 * 4 }, (_, i) => i / 10);
    const masks = Uint8Array.from({ length: 2 * 4 * 4 }, (_, i) => i % 2);
    const t = batchToTensors({ names: ['a', 'b'], images, masks, shape: [2, 1, 4, 4] }, { device: 'cuda:0' });
    cuda.synchronize();
    assert.equal(t.images.device, 'cuda:0');
    assert.deepEqual(Array.from(t.images.toFloat32Array()), Array.from(images));
    assert.deepEqual(Array.from(t.masks.toFloat32Array()), Array.from(masks));
  });
});

test('a one-rank NCCL process group all-reduces a CUDA tensor', { skip }, async () => {
  const group = ProcessGroup.init({ rank: 0, worldSize: 1, localRank: 0, masterAddr: '127.0.0.1', masterPort: await freePort(), backend: 'nccl', timeoutMs: 30_000 });
  try {
    tidy(() => {
      const t = tensor([1, 2, 3]).to('cuda:0');
      group.allReduce([t]);
      assert.deepEqual(Array.from(t.toFloat32Array()), [1, 2, 3]);
    });
  } finally {
    group.destroy();
  }
});
