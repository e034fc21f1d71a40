/**
 * Starting one worker process per device on this host, as torchrun does: each
 * gets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. If a worker
 * fails, the others are stopped and the launcher exits with that worker's exit
 * code (1 if a signal ended it), naming the rank: bad input stays exit code 2.
 *
 * The workers meet through a file in a private temporary folder
 * (PATHO_STORE_FILE), not a TCPStore: a TCPStore server listens on every
 * interface, and a job on one host has no reason to be reachable from others.
 * For the same reason Gloo connects over 127.0.0.1 and NCCL bootstraps over
 * the loopback interface (unless NCCL_SOCKET_IFNAME says otherwise).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LaunchOptions {
  /** One device per worker ('cpu' or 'cuda:N'). */
  devices: string[];
  /** The command each worker runs: [executable, ...args]. */
  command: [string, ...string[]];
  masterPort?: number;
  /**
   * How long the others get to exit on their own after a worker fails, before
   * they are sent SIGTERM, and SIGKILL 3 s later if that does not end them
   * either. A live peer of a dead rank fails its next collective at once, so
   * this only needs to let it print its own error; a hung rank gets no more
   * than this. Default 5 s, whatever the process group's timeout.
   */
  graceMs?: number;
  /** Where to report (default stderr). */
  log?: (line: string) => void;
  /** Runs `action` after `ms` unless cancelled (default setTimeout); tests pass one that need not wait. */
  schedule?: (action: () => void, ms: number) => () => void;
}

/** A TCP port that is free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

type Exit = { rank: number; code: number | null; signal: NodeJS.Signals | null };

/** Runs the workers to completion; resolves to the exit code the launcher should use: 0, or the first failed worker's. */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const schedule = options.schedule ?? ((action: () => void, ms: number) => {
    const timer = setTimeout(action, ms);
    return () => clearTimeout(timer);
  });
  const worldSize = options.devices.length;
  const port = options.masterPort ?? (await freePort());
  const cpuWorkers = options.devices.filter((d) => d === 'cpu').length;
  const threadsPerCpuWorker = Math.max(1, Math.floor(availableParallelism() / Math.max(1, cpuWorkers)));
  // mkdtemp makes the folder readable by this user only
  const storeDir = mkdtempSync(join(tmpdir(), 'patho-rendezvous-'));
  const children: ChildProcess[] = options.devices.map((device, rank) =>
    spawn(options.command[0], options.command.slice(1), {
      stdio: 'inherit',
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(rank),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        PATHO_STORE_FILE: join(storeDir, 'store'),
        NCCL_SOCKET_IFNAME: process.env.NCCL_SOCKET_IFNAME ?? 'lo',
        PATHO_DEVICE: device,
        ...(device === 'cpu' ? { PATHO_NUM_THREADS: String(threadsPerCpuWorker) } : {}),
      },
    }),
  );
  const exits = children.map(
    (child, rank) =>
      new Promise<Exit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ rank, code, signal }));
        child.once('error', () => resolve({ rank, code: 127, signal: null }));
      }),
  );
  const send = (signal: NodeJS.Signals, why?: string) => {
    children.forEach((child, rank) => {
      if (!running(child)) return;
      if (why) log(`patho: rank ${rank} (${options.devices[rank]}) ${why}; sending ${signal}`);
      child.kill(signal);
    });
  };
  // torchrun's behaviour: stopping the launcher stops the job, instead of
  // leaving workers that hold the port and keep writing checkpoints
  const forward = (signal: NodeJS.Signals) => send(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let failed: Exit | null = null;
  const cancels: (() => void)[] = [];
  const pending = new Set(exits.map((_, i) => i));
  try {
    while (pending.size) {
      const done = await Promise.race([...pending].map((i) => exits[i]));
      pending.delete(done.rank);
      if ((done.code !== 0 || done.signal) && !failed) {
        failed = done;
        log(`patho: rank ${done.rank} (${options.devices[done.rank]}) ${done.signal ? `was killed by ${done.signal}` : `exited with code ${done.code}`}; stopping the other ranks`);
        const grace = options.graceMs ?? SURVIVOR_GRACE_MS;
        // a worker that is stopped or stuck in native code may not act on SIGTERM
        cancels.push(
          schedule(() => send('SIGTERM', `still running ${grace / 1000} s later`), grace),
          schedule(() => send('SIGKILL', 'did not stop on SIGTERM'), grace + KILL_AFTER_TERM_MS),
        );
      }
    }
  } finally {
    for (const cancel of cancels) cancel();
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    rmSync(storeDir, { recursive: true, force: true });
  }
  if (!failed) return 0;
  return failed.signal || !failed.code ? 1 : failed.code;
}

const SURVIVOR_GRACE_MS = 5_000;
const KILL_AFTER_TERM_MS = 3_000;

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
