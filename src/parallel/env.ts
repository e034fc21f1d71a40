/**
 * Where this process sits in a data-parallel job, read from the environment
 * that torchrun and SLURM set, so clusters run patho the way they run PyTorch.
 * Pure: no addon.
 */

export interface WorldInfo {
  rank: number;
  worldSize: number;
  /** Rank within this host: picks the GPU. */
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /**
   * A file in a private folder where the ranks of a job on one host meet
   * instead of at MASTER_ADDR:MASTER_PORT (PATHO_STORE_FILE, set by patho's
   * own launcher), so that the job listens on loopback only.
   */
  storeFile?: string;
}

export const DEFAULT_MASTER_PORT = 29500;

/**
 * torchrun's RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT, else SLURM's
 * SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID with the first host of
 * SLURM_NODELIST (or SLURM_JOB_NODELIST) as master; null when neither is set.
 * PATHO_STORE_FILE (patho's launcher) gives the rendezvous file.
 */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): WorldInfo | null {
  // decimal digits only: Number() would also take '0x1', '1e3' and ' 2'
  const int = (name: string, value: string | undefined): number => {
    if (value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`environment variable ${name}=${value ?? ''} is not a non-negative integer`);
    }
    return Number(value);
  };
  // the native side stores the port in 16 bits: 70000 would silently become 4464
  const port = (value: string | undefined): number => {
    if (value === undefined) return DEFAULT_MASTER_PORT;
    const n = int('MASTER_PORT', value);
    if (n < 1 || n > 65535) throw new Error(`environment variable MASTER_PORT=${value} is not a TCP port (1-65535)`);
    return n;
  };
  let world: WorldInfo | null = null;
  if (env.RANK !== undefined && env.WORLD_SIZE !== undefined) {
    world = {
      rank: int('RANK', env.RANK),
      worldSize: int('WORLD_SIZE', env.WORLD_SIZE),
      localRank: env.LOCAL_RANK !== undefined ? int('LOCAL_RANK', env.LOCAL_RANK) : int('RANK', env.RANK),
      masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
      masterPort: port(env.MASTER_PORT),
      ...(env.PATHO_STORE_FILE ? { storeFile: env.PATHO_STORE_FILE } : {}),
    };
  } else if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined) {
    const nodes = env.SLURM_NODELIST ?? env.SLURM_JOB_NODELIST;
    world = {
      rank: int('SLURM_PROCID', env.SLURM_PROCID),
      worldSize: int('SLURM_NTASKS', env.SLURM_NTASKS),
      localRank: env.SLURM_LOCALID !== undefined ? int('SLURM_LOCALID', env.SLURM_LOCALID) : 0,
      masterAddr: env.MASTER_ADDR ?? (nodes ? firstHost(nodes) : '127.0.0.1'),
      masterPort: port(env.MASTER_PORT),
    };
  }
  if (world && (world.worldSize < 1 || world.rank >= world.worldSize)) {
    throw new Error(`rank ${world.rank} is outside world size ${world.worldSize}`);
  }
  return world;
}

/**
 * The first host of a SLURM node list: "gpu[03-05,07],cpu1" -> "gpu03",
 * "node1,node2" -> "node1", "rack[1-2]-n[01-04]" -> "rack1-n01" (SLURM
 * expands several bracket groups as a product, so the first host takes the
 * first value of each).
 */
export function firstHost(nodeList: string): string {
  const match = /^(?:[^,[\]]|\[[^\]]+\])+/.exec(nodeList.trim());
  if (!match || match[0].startsWith('[')) throw new Error(`cannot read SLURM node list '${nodeList}'`);
  return match[0].replace(/\[([^\]]+)\]/g, (_, ranges: string) => ranges.split(',')[0].split('-')[0]);
}
