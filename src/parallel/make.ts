/**
 * makeParallel(): the original patho's switch to many devices, for scripts.
 * A script started by torchrun, SLURM or `patho train --devices` joins its job;
 * started alone, it gets null and trains on its own.
 *
 * ```ts
 * const group = makeParallel();
 * const model = new Model(net, { group: group ?? undefined });
 * ```
 */
import { worldFromEnv } from './env.js';
import { ProcessGroup } from './group.js';

export interface MakeParallelOptions {
  /** 'nccl' for CUDA tensors; default 'gloo' (CPU tensors). */
  backend?: 'gloo' | 'nccl';
  /** How long rendezvous and every collective may take. Default 60 s. */
  timeoutMs?: number;
  /** Where to read the job from. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** This process's group in a job of two or more processes, or null outside one. */
export function makeParallel(options: MakeParallelOptions = {}): ProcessGroup | null {
  const world = worldFromEnv(options.env);
  if (!world || world.worldSize === 1) return null;
  return ProcessGroup.init({ ...world, backend: options.backend ?? 'gloo', timeoutMs: options.timeoutMs });
}
