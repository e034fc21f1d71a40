/**
 * Sharding a data set across distributed ranks, as PyTorch's
 * DistributedSampler does, so that a patho job splits data the way the
 * PyTorch job it replaces did.
 */
import { Rng } from './rng.js';

/** Options of DistributedSampler; defaults give the whole data set to one rank. */
export interface SamplerOptions {
  /** This process's rank, 0-based. Default 0. */
  rank?: number;
  /** Number of ranks. Default 1. */
  worldSize?: number;
  /** Shuffle each epoch (identically on every rank). Default true. */
  shuffle?: boolean;
  /** Seed shared by all ranks. Default 0. */
  seed?: number;
  /**
   * Drop the tail so every rank gets floor(size / worldSize) samples instead
   * of padding. Default false.
   */
  dropLast?: boolean;
}

/**
 * Each epoch, every rank permutes the same indices with the same seeded
 * stream and takes every worldSize-th index starting at its rank, so the
 * shards are disjoint and together cover the data set. When the size does not
 * divide evenly the permutation is padded by repeating its beginning (as
 * PyTorch does: every rank must run the same number of steps or the
 * collectives deadlock), so a few samples are seen twice per epoch;
 * with dropLast the tail is dropped instead and a few are not seen.
 */
export class DistributedSampler {
  readonly rank: number;
  readonly worldSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Samples this rank gets per epoch. */
  readonly numSamples: number;
  /** Samples all ranks get together per epoch (size padded or truncated). */
  readonly totalSize: number;

  constructor(
    readonly datasetSize: number,
    options: SamplerOptions = {},
  ) {
    this.rank = options.rank ?? 0;
    this.worldSize = options.worldSize ?? 1;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    if (!Number.isInteger(this.worldSize) || this.worldSize < 1) throw new Error(`worldSize must be a positive integer, got ${this.worldSize}`);
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.worldSize) {
      throw new Error(`rank must be in [0, ${this.worldSize}), got ${this.rank}`);
    }
    if (datasetSize < 1) throw new Error('cannot shard an empty data set');
    if (this.dropLast && datasetSize < this.worldSize) {
      throw new Error(`dropLast with ${datasetSize} samples and ${this.worldSize} ranks leaves ranks without data`);
    }
    this.numSamples = this.dropLast ? Math.floor(datasetSize / this.worldSize) : Math.ceil(datasetSize / this.worldSize);
    this.totalSize = this.numSamples * this.worldSize;
  }

  /** This rank's sample indices for `epoch`, in the order they should be visited. */
  indices(epoch: number): number[] {
    const order = Array.from({ length: this.datasetSize }, (_, i) => i);
    if (this.shuffle) Rng.derive(this.seed, 0x5a3b, epoch).shuffle(order);
    if (this.totalSize > order.length) {
      const base = order.slice();
      while (order.length < this.totalSize) order.push(...base.slice(0, this.totalSize - order.length));
    } else {
      order.length = this.totalSize;
    }
    const mine: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.worldSize) mine.push(order[i]);
    return mine;
  }
}
