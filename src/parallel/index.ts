export { worldFromEnv, firstHost, DEFAULT_MASTER_PORT, type WorldInfo } from './env.js';
export { ProcessGroup, type ProcessGroupOptions } from './group.js';
export { DistributedDataParallel, type DDPOptions } from './ddp.js';
export { convertSyncBatchNorm } from './sync-batch-norm.js';
export { launchWorkers, freePort, type LaunchOptions } from './launch.js';
export { makeParallel, type MakeParallelOptions } from './make.js';
