/**
 * Process start-up, shared by train, eval and predict: where this process
 * computes (a worker of a multi-process job reads its device from the
 * environment our launcher, torchrun or SLURM set; a process started by hand
 * reads --devices), its thread count, and whether it launches one worker per
 * device instead of computing itself.
 */
import { worldFromEnv, type WorldInfo } from '../parallel/env.js';
import { launchWorkers } from '../parallel/launch.js';
import { cuda, setNumThreads } from '../tensor/runtime.js';
import { UsageError } from './args.js';
import { parseDevices } from './devices.js';

export interface StartupOptions {
  devices: string;
  threads: number;
  /** processes on this host when --devices names one device (train's --nproc) */
  nproc?: number;
}

/** This process computes on `device`; `world` is set in a job of two or more processes. */
export interface Placement {
  device: string;
  world: WorldInfo | null;
}

/**
 * Starts the process: returns where it computes, or, when --devices asks for
 * several processes and none is running yet, launches them and returns the
 * job's exit code. `several: false` (eval) refuses more than one device.
 */
export async function startUp(o: StartupOptions, program: string, several = true): Promise<Placement | { exitCode: number }> {
  // a job of one process (an interactive `srun`, torchrun --nproc 1) is no job: its --devices still apply
  const found = worldFromEnv();
  const world = found && found.worldSize > 1 ? found : null;
  let device: string;
  if (world) {
    if (!several) throw new UsageError(`${program} runs as one process; this one was started as rank ${world.rank} of ${world.worldSize}`, program);
    device = process.env.PATHO_DEVICE ?? (cuda.deviceCount() > 0 ? `cuda:${world.localRank % cuda.deviceCount()}` : 'cpu');
    // torchrun gives its workers OMP_NUM_THREADS (1 by default) so that N of
    // them do not each take every core; our own launcher sets PATHO_NUM_THREADS
    const ompThreads = Number(process.env.OMP_NUM_THREADS);
    if (!process.env.PATHO_NUM_THREADS && Number.isInteger(ompThreads) && ompThreads > 0) setNumThreads(ompThreads);
  } else {
    const plan = parseDevices(o.devices, cuda.deviceCount());
    const devices = o.nproc !== undefined && plan.devices.length === 1 ? Array(o.nproc).fill(plan.devices[0]) : plan.devices;
    if (devices.length > 1) {
      if (!several) throw new UsageError(`--devices ${o.devices}: ${program} runs on one device (use cpu or cuda:N)`, program);
      const exitCode = await launchWorkers({
        devices,
        command: [process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
      });
      return { exitCode };
    }
    device = devices[0];
  }
  if (o.threads > 0) setNumThreads(o.threads);
  return { device, world };
}
