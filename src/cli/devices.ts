/**
 * The --devices option: 'auto', 'cpu', 'cpu:N' (N processes on the CPU),
 * 'cuda:0', 'cuda:0,1,2' or 'cuda' (every GPU). Pure parsing, no addon.
 */
import { UsageError } from './args.js';

export interface DevicePlan {
  /** One device per process: 'cpu' or 'cuda:N'. */
  devices: string[];
}

export function parseDevices(spec: string, cudaCount: number): DevicePlan {
  const value = spec.trim();
  if (value === 'auto') return { devices: [cudaCount > 0 ? 'cuda:0' : 'cpu'] };
  if (value === 'cpu') return { devices: ['cpu'] };
  const cpu = /^cpu:(\d+)$/.exec(value);
  if (cpu) {
    const n = Number(cpu[1]);
    if (n < 1) throw new UsageError(`--devices ${spec}: the process count must be at least 1`);
    return { devices: Array(n).fill('cpu') };
  }
  if (value === 'cuda') {
    if (cudaCount === 0) throw new UsageError(`--devices cuda: no CUDA device is available (libtorch sees none)`);
    return { devices: Array.from({ length: cudaCount }, (_, i) => `cuda:${i}`) };
  }
  const cuda = /^cuda:(\d+(?:,\d+)*)$/.exec(value);
  if (cuda) {
    const indices = cuda[1].split(',').map(Number);
    for (const i of indices) {
      if (i >= cudaCount) {
        throw new UsageError(`--devices ${spec}: cuda:${i} is not available (this machine has ${cudaCount} CUDA device${cudaCount === 1 ? '' : 's'})`);
      }
    }
    if (new Set(indices).size !== indices.length) throw new UsageError(`--devices ${spec}: a device is listed twice`);
    return { devices: indices.map((i) => `cuda:${i}`) };
  }
  throw new UsageError(`--devices: cannot read '${spec}' (use auto, cpu, cpu:N, cuda, cuda:0 or cuda:0,1,...)`);
}
