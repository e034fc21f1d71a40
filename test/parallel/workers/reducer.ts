/**
 * One rank of the gradient reducer test: three parameters, one bucket each
 * (so that buckets start one by one during backward), where `b` gets a
 * gradient only on rank 0 and `c` on no rank. Prints the averaged gradients,
 * the errors of misuse, and the live tensor counts, as one JSON line.
 *
 * Run as `reducer.js '<json config>'`; without it this file does nothing.
 */
const arg = process.argv[2];
if (arg) await main(JSON.parse(arg));

interface Config {
  rank: number;
  worldSize: number;
  masterPort: number;
}

async function main(c: Config): Promise<void> {
  const { ProcessGroup } = await import('../../../src/parallel/group.js');
  const { DistributedDataParallel } = await import('../../../src/parallel/ddp.js');
  const { Module } = await import('../../../src/nn/module.js');
  const { tensor } = await import('../../../src/tensor/create.js');
  const { memory } = await import('../../../src/tensor/runtime.js');
  const { tidy } = await import('../../../src/tensor/scope.js');

  class Three extends Module {
    constructor() {
      super();
      this.registerParameter('a', tensor([1, 2, 3], [3]));
      this.registerParameter('b', tensor([1, 1, 1, 1], [2, 2]));
      this.registerParameter('c', tensor([5], [1]));
    }
    get a() { return this.parameter('a'); }
    get b() { return this.parameter('b'); }
  }

  const errorOf = (f: () => void) => {
    try {
      f();
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  };
  const net = new Three();
  const group = ProcessGroup.init({ rank: c.rank, worldSize: c.worldSize, localRank: c.rank, masterAddr: '127.0.0.1', masterPort: c.masterPort, backend: 'gloo', timeoutMs: 10_000 });
  // 4 bytes: every parameter in its own bucket
  const ddp = new DistributedDataParallel(net, group, { bucketBytes: 4 });
  const before = memory().numTensors;
  const r = c.rank;
  const grads: Record<string, number[]>[] = [];
  for (let step = 0; step < 2; step++) {
    tidy(() => {
      const x = tensor([r + 1, 10 * (r + 1), step], [3]);
      let loss = net.a.mul(x).sum();
      if (r === 0) loss = loss.add(net.b.mul(tensor([1, 2, 3, 4], [2, 2])).sum());
      ddp.prepareForBackward();
      loss.backward();
      ddp.syncGradients();
      grads.push(Object.fromEntries(net.namedParameters().map(([name, p]) => [name, [...p.grad!.toFloat32Array()]])));
      for (const p of net.parameters()) p.grad = null;
    });
  }
  const after = memory().numTensors;
  const armedTwice = errorOf(() => {
    ddp.prepareForBackward();
    ddp.prepareForBackward();
  });
  // the reducer is freed with its group (its hooks removed); its handle then says so
  group.destroy();
  const destroyed = errorOf(() => ddp.syncGradients());
  process.stdout.write(JSON.stringify({ grads, before, after, armedTwice, destroyed }) + '\n');
}
