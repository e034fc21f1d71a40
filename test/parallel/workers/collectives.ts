/**
 * One rank of the collectives test: all-reduce (sum, max, min), broadcast from
 * a non-zero root and a barrier, printing the results as one JSON line.
 *
 * Run as `collectives.js '<json WorldInfo>'`. The test runner also runs every
 * .js under dist/test; without the argument this file does nothing.
 */
const arg = process.argv[2];
if (arg) await main(JSON.parse(arg));

interface Config {
  rank: number;
  worldSize: number;
  masterPort: number;
  /** Meet through this file instead of a TCPStore (as under patho's launcher). */
  storeFile?: string;
  timeoutMs?: number;
  /** This rank joins, then stops taking part (a hung or unreachable peer); the others report the error. */
  stalledRank?: number;
  /** A folder: write ready<rank> once loaded, then wait for the test's go file before the rendezvous. */
  startTogether?: string;
}

async function main(world: Config): Promise<void> {
  const { ProcessGroup } = await import('../../../src/parallel/group.js');
  const { tensor } = await import('../../../src/tensor/create.js');
  const timeoutMs = world.timeoutMs ?? 60_000;
  if (world.startTogether) {
    const { existsSync, writeFileSync } = await import('node:fs');
    const { setTimeout: sleep } = await import('node:timers/promises');
    writeFileSync(`${world.startTogether}/ready${world.rank}`, '');
    while (!existsSync(`${world.startTogether}/go`)) await sleep(10);
  }
  const group = ProcessGroup.init({ ...world, localRank: world.rank, masterAddr: '127.0.0.1', backend: 'gloo', timeoutMs });
  const r = world.rank;
  if (world.stalledRank !== undefined) {
    if (r === world.stalledRank) {
      // blocks until the test kills this process
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    } else {
      try {
        group.allReduce([tensor([1], [1])]);
        process.stdout.write(JSON.stringify({ rank: r, error: null }) + '\n');
      } catch (e) {
        process.stdout.write(JSON.stringify({ rank: r, error: (e as Error).message }) + '\n');
      }
    }
    return;
  }
  const sum = tensor([r, 10 * r, 1], [3]);
  const max = tensor([r, -r], [2]);
  const min = tensor([r, -r], [2]);
  const int64 = tensor(new BigInt64Array([BigInt(r + 1)]), [1]);
  group.allReduce([sum, int64]);
  group.allReduce([max], 'max');
  group.allReduce([min], 'min');
  const root = world.worldSize - 1;
  const shared = tensor([r, r, r, r], [2, 2]);
  group.broadcast([shared], root);
  group.barrier();
  const result = {
    rank: r,
    sum: [...sum.toArray()],
    int64: [...int64.toArray()].map(Number),
    max: [...max.toArray()],
    min: [...min.toArray()],
    broadcast: [...shared.toArray()],
  };
  group.destroy();
  group.destroy();
  process.stdout.write(JSON.stringify(result) + '\n');
}
