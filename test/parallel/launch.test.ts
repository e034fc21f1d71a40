import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchWorkers } from '../../src/parallel/launch.js';
import { WORKERS } from './processes.js';

/** A worker command: `node -e script`. */
const node = (script: string): [string, ...string[]] => [process.execPath, '-e', script];

test('every worker gets the torchrun environment, its device, a share of the cores and a store file in a private folder', async () => {
  const threads = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  const lines: string[] = [];
  const code = await launchWorkers({
    devices: ['cpu', 'cpu'],
    masterPort: 29999,
    log: (line) => lines.push(line),
    command: node(`
      const e = process.env;
      const folder = require('node:fs').statSync(require('node:path').dirname(e.PATHO_STORE_FILE));
      const ok = e.WORLD_SIZE === '2' && e.LOCAL_RANK === e.RANK && ['0', '1'].includes(e.RANK) &&
        e.MASTER_ADDR === '127.0.0.1' && e.MASTER_PORT === '29999' && e.PATHO_DEVICE === 'cpu' && e.PATHO_NUM_THREADS === '${threads}' &&
        (folder.mode & 0o777) === 0o700 && e.NCCL_SOCKET_IFNAME === ${JSON.stringify(process.env.NCCL_SOCKET_IFNAME ?? 'lo')};
      process.exit(ok ? 0 : 2);
    `),
  });
  assert.equal(code, 0, lines.join('\n'));
  assert.deepEqual(lines, []);
});

/** 127.0.0.0/8, ::1, or 127.x mapped into IPv6, as listening.ts prints them. */
function isLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':'));
  return host.startsWith('127.') || host === '0:0:0:0:0:0:0:1' || /^0:0:0:0:0:ffff:7f[0-9a-f]{2}:/.test(host);
}

test('a job on one host listens on loopback only, and its rendezvous folder is removed at the end', async () => {
  const out = mkdtempSync(join(tmpdir(), 'patho-listening-'));
  try {
    const lines: string[] = [];
    const code = await launchWorkers({ devices: ['cpu', 'cpu'], log: (line) => lines.push(line), command: [process.execPath, join(WORKERS, 'listening.js'), out] });
    assert.equal(code, 0, lines.join('\n'));
    for (const rank of [0, 1]) {
      const result = JSON.parse(readFileSync(join(out, `rank${rank}.json`), 'utf8')) as { listening: string[]; storeFile: string; storeFolderMode: number };
      const exposed = result.listening.filter((a) => !isLoopback(a));
      assert.deepEqual(exposed, [], `rank ${rank} listens beyond loopback on ${exposed.join(', ')}`);
      assert.equal(result.storeFolderMode, 0o700);
      assert.equal(existsSync(result.storeFile), false, 'the rendezvous file is gone with the job');
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

/** A schedule that records each delay and runs the actions at once, in the order they were scheduled. */
function immediateSchedule(delays: number[]) {
  return (action: () => void, ms: number) => {
    delays.push(ms);
    const timer = setImmediate(action);
    return () => clearImmediate(timer);
  };
}

test('a failed worker: the launcher names it, exits with its code, and a worker that ignores SIGTERM (hung) gets SIGKILL graceMs + 3 s later', async () => {
  const ready = join(mkdtempSync(join(tmpdir(), 'patho-launch-')), 'ready');
  const lines: string[] = [];
  const delays: number[] = [];
  const code = await launchWorkers({
    devices: ['cpu', 'cpu'],
    graceMs: 200,
    schedule: immediateSchedule(delays),
    log: (line) => lines.push(line),
    // rank 1 fails only once rank 0 ignores SIGTERM
    command: node(`
      const fs = require('node:fs');
      if (process.env.RANK === '0') {
        process.on('SIGTERM', () => {});
        fs.writeFileSync(${JSON.stringify(ready)}, '');
        setInterval(() => {}, 1000);
      } else {
        setInterval(() => fs.existsSync(${JSON.stringify(ready)}) && process.exit(3), 10);
      }
    `),
  });
  rmSync(join(ready, '..'), { recursive: true, force: true });
  assert.equal(code, 3, "the failed worker's exit code");
  assert.deepEqual(delays, [200, 3_200]);
  assert.deepEqual(lines, [
    'patho: rank 1 (cpu) exited with code 3; stopping the other ranks',
    'patho: rank 0 (cpu) still running 0.2 s later; sending SIGTERM',
    'patho: rank 0 (cpu) did not stop on SIGTERM; sending SIGKILL',
  ]);
});

test('a worker killed by a signal is reported as such, and the launcher exits 1', async () => {
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
