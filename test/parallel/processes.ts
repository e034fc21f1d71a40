/**
 * Child processes for the data-parallel tests: each rank is its own Node
 * process, as in a real job. Every child is killed after `timeoutMs` (2 min
 * by default) so a hang fails the test instead of stalling the suite: a guard
 * against hangs only, far beyond what any run takes on a loaded machine, never
 * the thing a test asserts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Compiled worker scripts (dist/test/parallel/workers). */
export const WORKERS = join(here, 'workers');
/** The CLI entry point. */
export const PATHO_BIN = join(here, '..', '..', '..', 'bin', 'patho.js');

/** How long a child may run before it is taken for hung and killed. */
export const HANG_GUARD_MS = 120_000;

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from start to exit. */
  ms: number;
}

export interface Running {
  child: ChildProcess;
  done: Promise<Finished>;
}

/** Starts `node args...` with `env` added to this process's environment (minus any inherited job variables). */
export function start(args: string[], env: Record<string, string> = {}, timeoutMs = HANG_GUARD_MS): Running {
  const base = { ...process.env };
  for (const name of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_PROCID', 'SLURM_NTASKS']) delete base[name];
  const child = spawn(process.execPath, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = performance.now();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  // 'close' waits for the output pipes, which a grandchild (a launched worker)
  // may hold open after the child itself has exited: give it a moment only
  const done = new Promise<Finished>((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      const finish = () => resolve({ code, signal, stdout, stderr, ms });
      const late = setTimeout(finish, 1_000);
      child.once('close', () => {
        clearTimeout(late);
        finish();
      });
    });
  });
  return { child, done };
}

/** Runs a worker script from dist/test/parallel/workers with one JSON argument. */
export function startWorker(name: string, config: object, timeoutMs?: number): Running {
  return start([join(WORKERS, name), JSON.stringify(config)], {}, timeoutMs);
}

/** The last line of stdout, parsed. */
export function lastJson<T>(f: Finished): T {
  const lines = f.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Asserts-friendly description of a finished process for failure messages. */
export function describe(f: Finished): string {
  return `exit ${f.code ?? f.signal} after ${Math.round(f.ms)} ms\nstdout: ${f.stdout}\nstderr: ${f.stderr}`;
}
