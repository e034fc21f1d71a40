/**
 * `patho train` as a multi-process job: under our launcher, under a
 * torchrun-style environment, after a rank dies, and resumed with another
 * world size. A tiny U-Net on four 32x32 images keeps each run to seconds.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/parallel/launch.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { pixels, tempDir, writeImage } from '../data/helpers.js';
import { PATHO_BIN, describe, start, type Finished, type Running } from './processes.js';

const temp = await tempDir();
after(() => temp.cleanup());

const data = join(temp.dir, 'data');
for (let i = 0; i < 4; i++) {
  const disc = (x: number, y: number) => (x - 10 - 3 * i) ** 2 + (y - 16) ** 2 < 49;
  await writeImage(join(data, 'images', `${i}.png`), pixels(32, 32, 1, (x, y) => (disc(x, y) ? 200 : 40) + ((x * 7 + y * 3 + i) % 13)));
  await writeImage(join(data, 'masks', `${i}.png`), pixels(32, 32, 1, (x, y) => (disc(x, y) ? 255 : 0)));
}

function trainArgs(out: string, epochs: number, ...extra: string[]): string[] {
  return [
    PATHO_BIN, 'train', '--data', data, '--out', out, '--epochs', String(epochs),
    '--batch-size', '1', '--patch', '0', '--depth', '1', '--base-channels', '2', '--lr', '0.01',
    // --no-plan: these runs test the launcher with the options' fixed behaviour (a checkpoint every epoch)
    '--workers', '0', '--threads', '1', '--dist-timeout', '8', '--no-plan', ...extra,
  ];
}

function epochsLogged(out: string): number[] {
  return readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((r) => r.event === 'epoch').map((r) => r.epoch);
}

async function checkpointEpoch(path: string): Promise<number> {
  const checkpoint = await loadCheckpoint(path);
  try {
    assert.ok(checkpoint.model.size > 0, 'the checkpoint holds weights');
    return checkpoint.meta.epoch;
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

test('torchrun environment: two processes started outside our launcher join one group; only rank 0 writes; --resume on one process continues', async () => {
  const out = join(temp.dir, 'torchrun');
  const masterPort = String(await freePort());
  const ranks = [0, 1].map((rank) =>
    start(trainArgs(out, 2, '--val-split', '0.5'), { RANK: String(rank), WORLD_SIZE: '2', LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: masterPort }),
  );
  const [rank0, rank1] = await Promise.all(ranks.map((r) => r.done));
  assert.equal(rank0.code, 0, describe(rank0));
  assert.equal(rank1.code, 0, describe(rank1));
  assert.match(rank0.stdout, /best epoch/, 'rank 0 prints the summary');
  assert.equal(rank1.stdout, '', 'rank 1 prints nothing');
  assert.doesNotMatch(rank1.stderr, /epoch/, 'rank 1 shows no progress');
  assert.deepEqual(epochsLogged(out), [1, 2], 'one writer: each epoch logged once');
  assert.equal(await checkpointEpoch(join(out, 'last.pt')), 2);

  const resumed = await start(trainArgs(out, 3, '--val-split', '0.5', '--devices', 'cpu', '--resume')).done;
  assert.equal(resumed.code, 0, describe(resumed));
  assert.deepEqual(epochsLogged(out), [1, 2, 3]);
  assert.equal(await checkpointEpoch(join(out, 'last.pt')), 3);
});

test('--devices cpu:2 resumes a one-process run, with SyncBatchNorm over the two ranks\' batches of 1', async () => {
  const out = join(temp.dir, 'grow');
  const single = await start(trainArgs(out, 1, '--val-split', '0', '--devices', 'cpu')).done;
  assert.equal(single.code, 0, describe(single));
  const pair = await start(trainArgs(out, 2, '--val-split', '0', '--devices', 'cpu:2', '--resume', '--sync-bn')).done;
  assert.equal(pair.code, 0, describe(pair));
  assert.deepEqual(epochsLogged(out), [1, 2]);
  assert.equal(await checkpointEpoch(join(out, 'last.pt')), 2);
});

/** The worker processes the launcher started, by rank. */
function workersOf(launcherPid: number): Map<number, number> {
  const pids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(launcherPid)], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean).map(Number);
  const byRank = new Map<number, number>();
  for (const pid of pids) {
    const rank = /(?:^|\0)RANK=(\d+)\0/.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'));
    if (rank) byRank.set(Number(rank[1]), pid);
  }
  return byRank;
}

/** Starts a two-rank `patho train` under our launcher and waits for its first last.pt. */
async function startPairUntilCheckpoint(args: string[], out: string): Promise<{ launcher: Running; workers: Map<number, number> }> {
  const launcher = start(args);
  let finishedEarly: Finished | null = null;
  void launcher.done.then((f) => (finishedEarly = f));
  while (!existsSync(join(out, 'last.pt'))) {
    if (finishedEarly) assert.fail(`the job ended before its first checkpoint: ${describe(finishedEarly)}`);
    await sleep(50);
  }
  const workers = workersOf(launcher.child.pid!);
  assert.equal(workers.size, 2, 'two workers');
  return { launcher, workers };
}

test('a rank killed mid-training: the other exits with an error naming its rank, the launcher names the dead one, last.pt loads', async () => {
  const out = join(temp.dir, 'killed');
  const { launcher, workers } = await startPairUntilCheckpoint(trainArgs(out, 100_000, '--val-split', '0', '--devices', 'cpu:2'), out);
  process.kill(workers.get(1)!, 'SIGKILL');
  const f = await launcher.done;
  assert.notEqual(f.code, 0, describe(f));
  assert.match(f.stderr, /rank 1 \(cpu\) was killed by SIGKILL/, describe(f));
  assert.match(f.stderr, /rank 0 of 2/, `the survivor names its rank: ${describe(f)}`);
  // what ended the survivor: the closed connection of its dead peer, not the --dist-timeout, nor the launcher
  assert.doesNotMatch(f.stderr, /timed out|sending SIGTERM/i, describe(f));
  assert.throws(() => process.kill(workers.get(0)!, 0), { code: 'ESRCH' }, 'no worker outlives the launcher');
  assert.ok((await checkpointEpoch(join(out, 'last.pt'))) >= 1);
  assert.ok(existsSync(join(out, 'model.pt')));
});

test('a hung rank: once another rank has failed, the launcher stops it within seconds, not after --dist-timeout', async () => {
  const out = join(temp.dir, 'hung');
  // a timeout beyond the hang guard: before the launcher had its own grace,
  // it waited this long before stopping the hung rank
  const args = trainArgs(out, 100_000, '--val-split', '0', '--devices', 'cpu:2', '--dist-timeout', '600');
  const { launcher, workers } = await startPairUntilCheckpoint(args, out);
  try {
    // stopped, not dead: it holds its connections and answers nothing, not even SIGTERM
    process.kill(workers.get(1)!, 'SIGSTOP');
    process.kill(workers.get(0)!, 'SIGKILL');
    const f = await launcher.done;
    assert.equal(f.code, 1, describe(f));
    const said = f.stderr.split('\n').filter((line) => line.startsWith('patho: rank'));
    assert.deepEqual(said, [
      'patho: rank 0 (cpu) was killed by SIGKILL; stopping the other ranks',
      'patho: rank 1 (cpu) still running 5 s later; sending SIGTERM',
      'patho: rank 1 (cpu) did not stop on SIGTERM; sending SIGKILL',
    ]);
    assert.throws(() => process.kill(workers.get(1)!, 0), { code: 'ESRCH' }, 'the hung rank is gone');
  } finally {
    for (const pid of workers.values()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
  }
});

test('a one-task SLURM step is no job: --devices applies and no process group binds MASTER_PORT', async () => {
  const out = join(temp.dir, 'srun');
  // the port is taken, so a needless rendezvous on it would fail
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = String((server.address() as AddressInfo).port);
    const run = await start(trainArgs(out, 1, '--val-split', '0', '--devices', 'cpu'), { SLURM_PROCID: '0', SLURM_NTASKS: '1', SLURM_NODELIST: 'localhost', MASTER_PORT: port }).done;
    assert.equal(run.code, 0, describe(run));
    assert.deepEqual(epochsLogged(out), [1]);
  } finally {
    server.close();
  }
});
