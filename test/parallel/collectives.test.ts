import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/parallel/launch.js';
import { ProcessGroup } from '../../src/parallel/group.js';
import { makeParallel } from '../../src/parallel/make.js';
import { describe, lastJson, startWorker } from './processes.js';

interface Result {
  rank: number;
  sum: number[];
  int64: number[];
  max: number[];
  min: number[];
  broadcast: number[];
}

test('3 Gloo ranks: all-reduce sum/max/min (float32, int64), broadcast from the last rank, barrier', async () => {
  const worldSize = 3;
  const masterPort = await freePort();
  const runs = Array.from({ length: worldSize }, (_, rank) => startWorker('collectives.js', { rank, worldSize, masterPort }));
  const finished = await Promise.all(runs.map((r) => r.done));
  for (const f of finished) assert.equal(f.code, 0, describe(f));
  const results = finished.map((f) => lastJson<Result>(f));
  for (const [rank, r] of results.entries()) {
    assert.equal(r.rank, rank);
    assert.deepEqual(r.sum, [0 + 1 + 2, 0 + 10 + 20, 3]);
    assert.deepEqual(r.int64, [1 + 2 + 3]);
    assert.deepEqual(r.max, [2, 0]);
    assert.deepEqual(r.min, [0, -2]);
    assert.deepEqual(r.broadcast, [2, 2, 2, 2]);
  }
});

test('a single-rank group reduces to the identity', () => {
  // rank 0 of 1 is its own TCPStore server: no other process is needed
  return freePort().then((masterPort) => {
    const group = ProcessGroup.init({ rank: 0, worldSize: 1, localRank: 0, masterAddr: '127.0.0.1', masterPort, backend: 'gloo', timeoutMs: 5_000 });
    try {
      assert.equal(group.rank, 0);
      group.barrier();
    } finally {
      group.destroy();
    }
    assert.throws(() => group.barrier(), /process group was destroyed/);
  });
});

test('a rank outside the world size, a bad port and an unknown backend are refused before any rendezvous', () => {
  const world = { localRank: 0, masterAddr: '127.0.0.1', masterPort: 1, timeoutMs: 1_000 };
  assert.throws(() => ProcessGroup.init({ ...world, rank: 2, worldSize: 2, backend: 'gloo' }), /rank 2 is outside world size 2/);
  assert.throws(() => ProcessGroup.init({ ...world, rank: 0, worldSize: 1, backend: 'mpi' as never }), /backend 'mpi'/);
  assert.throws(() => ProcessGroup.init({ ...world, rank: 0, worldSize: 1, masterPort: 70_000, backend: 'gloo' }), /port 70000 is not a TCP port/);
});

// A rank alone at the rendezvous: it fails with its group's timeout. Run in a
// worker, so that a timeout not passed on (the stores wait 300 s by default)
// meets the hang guard instead of blocking the test runner.
test('rendezvous with a missing peer fails within the timeout, naming the rank: TCPStore', async () => {
  const alone = await startWorker('collectives.js', { rank: 0, worldSize: 2, masterPort: await freePort(), timeoutMs: 1_500 }).done;
  assert.equal(alone.code, 1, describe(alone));
  assert.match(alone.stderr, /rendezvous at 127\.0\.0\.1:\d+ failed \(rank 0 of 2\): Socket Timeout \(is every rank started/, describe(alone));
});

test('rendezvous with a missing peer fails within the timeout, naming the rank: store file', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'patho-store-'));
  try {
    const storeFile = join(folder, 'store');
    const alone = await startWorker('collectives.js', { rank: 0, worldSize: 2, masterPort: 1, storeFile, timeoutMs: 1_500 }).done;
    assert.equal(alone.code, 1, describe(alone));
    assert.ok(alone.stderr.includes(`rendezvous through ${storeFile} failed (rank 0 of 2): Wait timeout (did every rank start?)`), describe(alone));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a rank that stops answering: the others fail the all-reduce within the timeout, naming their rank', async () => {
  const masterPort = await freePort();
  const folder = mkdtempSync(join(tmpdir(), 'patho-start-'));
  try {
    // both ranks load the addon first and start the rendezvous together, so
    // that the short timeout bounds the all-reduce, not a slow start-up
    const config = { worldSize: 2, masterPort, timeoutMs: 3_000, stalledRank: 1, startTogether: folder };
    const [first, stalled] = [0, 1].map((rank) => startWorker('collectives.js', { ...config, rank }));
    while (!(existsSync(join(folder, 'ready0')) && existsSync(join(folder, 'ready1')))) await sleep(20);
    writeFileSync(join(folder, 'go'), '');
    const survivor = await first.done;
    stalled.child.kill('SIGKILL');
    await stalled.done;
    assert.equal(survivor.code, 0, describe(survivor));
    const { error } = lastJson<{ error: string | null }>(survivor);
    // a timeout, not an error of another kind; a hang would meet the hang guard instead
    assert.match(error ?? 'no error', /all-reduce failed \(rank 0 of 2\).*timed out.*a peer process may have died/i);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('makeParallel: null outside a job and in a job of one process', () => {
  assert.equal(makeParallel({ env: {} }), null);
  assert.equal(makeParallel({ env: { RANK: '0', WORLD_SIZE: '1' } }), null);
  assert.equal(makeParallel({ env: { SLURM_PROCID: '0', SLURM_NTASKS: '1' } }), null);
  assert.throws(() => makeParallel({ env: { RANK: '2', WORLD_SIZE: '2' } }), /rank 2 is outside world size 2/);
});
