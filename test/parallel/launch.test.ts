import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { launchWorkers } from '../../src/parallel/launch.js';

/** A worker command: `node -e script`. */
const node = (script: string): [string, ...string[]] => [process.execPath, '-e', script];

test('every worker gets the torchrun environment, its device and a share of the cores', async () => {
  const threads = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  const lines: string[] = [];
  const code = await launchWorkers({
    devices: ['cpu', 'cpu'],
    masterPort: 29999,
    log: (line) => lines.push(line),
    command: node(`
      const e = process.env;
      const ok = e.WORLD_SIZE === '2' && e.LOCAL_RANK === e.RANK && ['0', '1'].includes(e.RANK) &&
        e.MASTER_ADDR === '127.0.0.1' && e.MASTER_PORT === '29999' && e.PATHO_DEVICE === 'cpu' && e.PATHO_NUM_THREADS === '${threads}';
      process.exit(ok ? 0 : 2);
    `),
  });
  assert.equal(code, 0, lines.join('\n'));
  assert.deepEqual(lines, []);
});

test('a failed worker: the launcher names it, stops a worker that ignores SIGTERM, and exits non-zero', async () => {
  const lines: string[] = [];
  const started = performance.now();
  const code = await launchWorkers({
    devices: ['cpu', 'cpu', 'cpu'],
    graceMs: 200,
    log: (line) => lines.push(line),
    command: node(`
      if (process.env.RANK === '1') process.exit(3);
      if (process.env.RANK === '0') process.on('SIGTERM', () => {});
      setInterval(() => {}, 1000);
    `),
  });
  assert.equal(code, 1);
  assert.deepEqual(lines, ['patho: rank 1 (cpu) exited with code 3; stopping the other ranks']);
  assert.ok(performance.now() - started < 10_000, 'SIGKILL follows an ignored SIGTERM');
});

test('a worker killed by a signal is reported as such', async () => {
  const lines: string[] = [];
  const code = await launchWorkers({
    devices: ['cpu', 'cpu'],
    graceMs: 5_000,
    log: (line) => lines.push(line),
    command: node(`process.env.RANK === '0' ? process.kill(process.pid, 'SIGKILL') : setTimeout(() => {}, 500)`),
  });
  assert.equal(code, 1);
  assert.deepEqual(lines, ['patho: rank 0 (cpu) was killed by SIGKILL; stopping the other ranks']);
});
