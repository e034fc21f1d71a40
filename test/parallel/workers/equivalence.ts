/**
 * One rank of the equivalence test: five SGD-with-momentum steps on a tiny
 * U-Net (batch norm only with `batchNorm`), each rank on its own `batch`
 * samples of a fixed global batch of worldSize * batch. Prints the final
 * parameters and batch-norm running statistics as JSON.
 * With worldSize 1 it runs without a process group: the single-process
 * reference. Every rank seeds its weights differently, so equal results also
 * show that DDP starts every replica from rank 0's weights. `overlap` false
 * all-reduces the gradients after backward instead of during it; `syncBn`
 * takes batch-norm statistics over both ranks' batches.
 *
 * Run as `equivalence.js '<json config>'`; without it this file does nothing
 * (the test runner runs every .js under dist/test).
 */
const arg = process.argv[2];
if (arg) await main(JSON.parse(arg));

interface Config {
  rank: number;
  worldSize: number;
  masterPort: number;
  batch: number;
  steps: number;
  overlap: boolean;
  batchNorm: boolean;
  syncBn: boolean;
}

async function main(c: Config): Promise<void> {
  const { ProcessGroup } = await import('../../../src/parallel/group.js');
  const { DistributedDataParallel } = await import('../../../src/parallel/ddp.js');
  const { convertSyncBatchNorm } = await import('../../../src/parallel/sync-batch-norm.js');
  const { UNet } = await import('../../../src/models/unet.js');
  const { SGD } = await import('../../../src/optim/index.js');
  const { bce } = await import('../../../src/losses/index.js');
  const { tensor } = await import('../../../src/tensor/create.js');
  const { manualSeed, setNumThreads } = await import('../../../src/tensor/runtime.js');
  const { tidy } = await import('../../../src/tensor/scope.js');
  const { trainStep } = await import('../../../src/train/step.js');

  setNumThreads(1);
  manualSeed(100 + c.rank);
  const net = new UNet({ inChannels: 1, classes: 1, depth: 1, baseChannels: 4, batchNorm: c.batchNorm });
  const group = c.worldSize > 1
    ? ProcessGroup.init({ rank: c.rank, worldSize: c.worldSize, localRank: c.rank, masterAddr: '127.0.0.1', masterPort: c.masterPort, backend: 'gloo', timeoutMs: 10_000 })
    : null;
  if (group && c.syncBn) convertSyncBatchNorm(net, group);
  // small buckets, so that several all-reduces per step are exercised
  const ddp = group ? new DistributedDataParallel(net, group, { bucketBytes: 1024, overlap: c.overlap }) : null;
  const optimizer = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
  const parts = { net, loss: bce, optimizer, device: 'cpu', ddp };
  const size = 8;
  for (let step = 0; step < c.steps; step++) {
    tidy(() => {
      const first = c.rank * c.batch;
      const images = new Float32Array(c.batch * size * size);
      const masks = new Float32Array(c.batch * size * size);
      for (let n = 0; n < c.batch; n++) {
        for (let i = 0; i < size * size; i++) {
          const v = Math.sin(0.37 * (first + n + 1) * (i + 1) + step);
          images[n * size * size + i] = v;
          masks[n * size * size + i] = v > 0.2 ? 1 : 0;
        }
      }
      // the trainer's own step: forward, loss, backward, gradient averaging, update
      trainStep(parts, tensor(images, [c.batch, 1, size, size]), tensor(masks, [c.batch, 1, size, size]));
    });
  }
  const state = [...net.namedParameters(), ...net.namedBuffers().filter(([name]) => !name.endsWith('num_batches_tracked'))];
  const weights = Object.fromEntries(state.map(([name, p]) => [name, [...p.toFloat32Array()]]));
  group?.destroy();
  process.stdout.write(JSON.stringify(weights) + '\n');
}
