/**
 * Validation subsets: a seeded fraction of the training names, an explicit
 * list, one fold of a k-fold split, or a separate folder.
 */
import { Rng } from './rng.js';
import { naturalCompare } from './dataset.js';

/** How to get validation data. */
export type ValidationSpec =
  | { fraction: number; seed?: number }
  | { names: readonly string[] }
  | { folds: number; fold: number; seed?: number }
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

/**
 * A k-fold split: the names in natural order, shuffled by `seed`, dealt to
 * folds 0..k-1 in turn, so every name is in exactly one fold and the folds'
 * sizes differ by at most one. The same names (in any order), k and seed give
 * the same folds on every machine. Fold i's names, in natural order, are the
 * validation set of the run that trains on the other folds.
 */
export function foldNames(names: readonly string[], folds: number, seed = 0): string[][] {
  if (!(Number.isInteger(folds) && folds >= 2)) throw new Error(`the number of folds must be an integer of at least 2, got ${folds}`);
  if (folds > names.length) throw new Error(`${names.length} image(s) cannot be split into ${folds} folds: every fold needs an image to validate on`);
  const shuffled = Rng.derive(seed, 0xf01d).shuffle([...names].sort(naturalCompare));
  const dealt: string[][] = Array.from({ length: folds }, () => []);
  shuffled.forEach((name, i) => dealt[i % folds].push(name));
  return dealt.map((fold) => fold.sort(naturalCompare));
}
