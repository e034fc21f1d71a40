/**
 * Starting one worker process per device on this host, as torchrun does: each
 * gets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. If a worker
 * fails, the others are stopped and the launcher exits non-zero, naming the rank.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

export interface LaunchOptions {
  /** One device per worker ('cpu' or 'cuda:N'). */
  devices: string[];
  /** The command each worker runs: [executable, ...args]. */
  command: [string, ...string[]];
  masterPort?: number;
  /**
   * How long survivors get to exit on their own after a worker fails (they
   * should, within the process group's timeout) before they are sent SIGTERM,
   * and SIGKILL if that does not end them either. Default 30 s.
   */
  graceMs?: number;
  /** Where to report (default stderr). */
  log?: (line: string) => void;
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

/** Runs the workers to completion; resolves to the exit code the launcher should use. */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const worldSize = options.devices.length;
  const port = options.masterPort ?? (await freePort());
  const cpuWorkers = options.devices.filter((d) => d === 'cpu').length;
  const threadsPerCpuWorker = Math.max(1, Math.floor(availableParallelism() / Math.max(1, cpuWorkers)));
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
        PATHO_DEVICE: device,
        ...(device === 'cpu' ? { PATHO_NUM_THREADS: String(threadsPerCpuWorker) } : {}),
      },
    }),
  );
  const exits = children.map(
    (child, rank) =>
      new Promise<{ rank: number; code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ rank, code, signal }));
        child.once('error', () => resolve({ rank, code: 127, signal: null }));
      }),
  );
  // torchrun's behaviour: stopping the launcher stops the job, instead of
  // leaving workers that hold the port and keep writing checkpoints
  const forward = (signal: NodeJS.Signals) => {
    for (const child of children) if (running(child)) child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let failed: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null = null;
  const timers: NodeJS.Timeout[] = [];
  const pending = new Set(exits.map((_, i) => i));
  try {
    while (pending.size) {
      const done = await Promise.race([...pending].map((i) => exits[i]));
      pending.delete(done.rank);
      if ((done.code !== 0 || done.signal) && !failed) {
        failed = done;
        log(`patho: rank ${done.rank} (${options.devices[done.rank]}) ${done.signal ? `was killed by ${done.signal}` : `exited with code ${done.code}`}; stopping the other ranks`);
        const grace = options.graceMs ?? 30_000;
        // a worker that is stopped or stuck in native code may not act on SIGTERM
        timers.push(setTimeout(() => forward('SIGTERM'), grace), setTimeout(() => forward('SIGKILL'), grace + KILL_AFTER_TERM_MS));
      }
    }
  } finally {
    for (const timer of timers) clearTimeout(timer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
  return failed ? 1 : 0;
}

const KILL_AFTER_TERM_MS = 3_000;

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
