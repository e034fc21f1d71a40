/**
 * Validation subsets: a seeded fraction of the training names, an explicit
 * list, or a separate folder.
 */
import { Rng } from './rng.js';
import { naturalCompare } from './dataset.js';

/** How to get validation data. */
export type ValidationSpec =
  | { fraction: number; seed?: number }
  | { names: readonly string[] }
  | { root: string; images?: string; masks?: string };

/**
 * Deterministic split: the same names, fraction and seed give the same
 * validation set on every machine, whatever order the names come in.
 * At least one name goes to validation when the fraction is positive and
 * at least one stays for training.
 */
export function splitNames(names: readonly string[], fraction: number, seed = 0): { train: string[]; validation: string[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`validation fraction must be in [0, 1), got ${fraction}`);
  const sorted = [...names].sort(naturalCompare);
  let count = Math.round(sorted.length * fraction);
  if (fraction > 0) count = Math.min(Math.max(count, 1), sorted.length - 1);
  const picked = new Set(Rng.derive(seed, 0x5911).shuffle([...sorted]).slice(0, count));
  return {
    train: sorted.filter((n) => !picked.has(n)),
    validation: sorted.filter((n) => picked.has(n)),
  };
}
