/**
 * Ensembles: several trained models (the folds of a cross-validation, or any
 * models of one task) predict together. Their probabilities are averaged per
 * tile, before blending and thresholding, as nnU-Net ensembles its folds: the
 * mean of the sigmoid or softmax outputs, not of the logits, so a member that
 * is sure does not outvote the others by the size of its logits. Blending is
 * linear, so averaging tiles and then blending equals blending each member's
 * map and averaging those. The members must read their input alike (channels,
 * normalisation, resolution) and predict the same classes; their widths and
 * depths may differ.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { naturalCompare } from '../data/dataset.js';
import { CheckpointError } from '../io/errors.js';
import type { UNet } from '../models/unet.js';
import * as F from '../tensor/ops.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import type { TileEngine } from './tiled.js';
import { loadTrainedNet } from './trained.js';

/** The folder of fold k in a cross-validation run's output (`patho train --folds K`). */
export function foldFolder(out: string, fold: number): string {
  return join(out, `fold-${fold}`);
}

/**
 * The checkpoint files `--model` names: a comma-separated list, each entry a
 * file or a folder. A folder stands for
 *   1. its fold-N/model.pt files, when it holds folds (a `patho train --folds K` run), else
 *   2. its model.pt, when it has one (a training run's folder: its best model, not last.pt), else
 *   3. every .pt file in it,
 * in natural name order (fold-2 before fold-10).
 */
export function modelFiles(spec: string): string[] {
  const entries = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) throw new CheckpointError(spec, 'no model named');
  return entries.flatMap((entry) => {
    if (!existsSync(entry)) throw new CheckpointError(entry, 'does not exist');
    if (!statSync(entry).isDirectory()) return [entry];
    const names = readdirSync(entry).sort(naturalCompare);
    const folds = names.filter((n) => /^fold-\d+$/.test(n) && existsSync(join(entry, n, 'model.pt'))).map((n) => join(entry, n, 'model.pt'));
    if (folds.length > 0) return folds;
    if (names.includes('model.pt')) return [join(entry, 'model.pt')];
    const files = names.filter((n) => n.endsWith('.pt') && statSync(join(entry, n)).isFile()).map((n) => join(entry, n));
    if (files.length === 0) throw new CheckpointError(entry, 'a folder without fold-N/model.pt, model.pt or any .pt file');
    return files;
  });
}

/** A loaded member of an ensemble. */
export interface EnsembleMember {
  path: string;
  net: UNet;
  meta: CheckpointMeta;
}

/**
 * Loads the checkpoints as one ensemble, after checking that they agree on
 * what they read and predict (a CheckpointError naming both files if not;
 * nothing stays loaded then). `meta` is the first member's, with the
 * ensemble's threshold: the mean of the members' thresholds (each the best of
 * its own validation sweep, or 0.5 where a checkpoint records none), the
 * natural cut of a mean of probabilities each of which was best cut there.
 */
export async function loadEnsemble(paths: readonly string[], options: { device?: string } = {}): Promise<{ members: EnsembleMember[]; meta: CheckpointMeta }> {
  const members: EnsembleMember[] = [];
  try {
    for (const path of paths) {
      const { net, meta } = await loadTrainedNet(path, options);
      members.push({ path, net, meta });
      checkAgreement(members[0], members[members.length - 1]);
    }
  } catch (error) {
    for (const m of members) m.net.dispose();
    throw error;
  }
  const mean = members.reduce((sum, m) => sum + m.meta.threshold, 0) / members.length;
  // to 6 decimals, so that 0.3 and 0.6 give 0.45, not 0.44999999999999996 (a cut moved by at most 5e-7)
  const threshold = Math.round(mean * 1e6) / 1e6;
  return { members, meta: { ...members[0].meta, threshold } };
}

/** Throws when `other` reads its input or names its outputs differently from `first`. */
function checkAgreement(first: EnsembleMember, other: EnsembleMember): void {
  if (first === other) return;
  const disagree = (what: string, a: unknown, b: unknown) =>
    new CheckpointError(other.path, `disagrees with ${first.path} on ${what} (${describe(b)} here, ${describe(a)} there); an ensemble averages models that read and predict alike`);
  const checks: [string, unknown, unknown][] = [
    ['the number of classes', first.net.options.classes, other.net.options.classes],
    ['the input channels', first.net.options.inChannels, other.net.options.inChannels],
    ['the input normalisation', first.meta.normalization ?? null, other.meta.normalization ?? null],
    ['the class names', first.meta.classes?.names ?? null, other.meta.classes?.names ?? null],
    ['the microns per pixel it was trained at', first.meta.mpp ?? null, other.meta.mpp ?? null],
    ['the working resolution (--downsample)', first.meta.downsample ?? 1, other.meta.downsample ?? 1],
  ];
  for (const [what, a, b] of checks) if (JSON.stringify(a) !== JSON.stringify(b)) throw disagree(what, a, b);
}

function describe(value: unknown): string {
  if (value === null) return 'none';
  if (typeof value === 'object' && value && 'mean' in value && 'std' in value) {
    const { mean, std } = value as { mean: number[]; std: number[] };
    return `mean ${mean.map((v) => v.toPrecision(4)).join(',')} std ${std.map((v) => v.toPrecision(4)).join(',')}`;
  }
  return Array.isArray(value) ? value.join(',') : String(value);
}

/**
 * One tile engine of several: each batch of tiles goes through every member
 * in turn, and their probabilities are averaged. One member is returned as it is.
 */
export function ensembleEngine(members: readonly TileEngine[]): TileEngine {
  if (members.length === 1) return members[0];
  const [{ classes, inChannels }] = members;
  return {
    classes,
    inChannels,
    async run(input, shape) {
      let sum: Float32Array | null = null;
      for (const member of members) {
        const probabilities = await member.run(input, shape);
        if (!sum) sum = Float32Array.from(probabilities);
        else for (let i = 0; i < sum.length; i++) sum[i] += probabilities[i];
      }
      const scale = 1 / members.length;
      for (let i = 0; i < sum!.length; i++) sum![i] *= scale;
      return sum!;
    },
  };
}

/**
 * Several U-Nets as one network for whole-image evaluation (`patho eval`):
 * `forward` returns the logits of the members' mean probability (its
 * log-odds for one class, its log for several), so that `probabilities`
 * gives that mean back (exact up to float rounding; 0 and 1 become -inf and
 * +inf logits and come back as 0 and 1).
 */
export class EnsembleNet {
  readonly options: { classes: number; inChannels: number };

  constructor(readonly members: readonly UNet[]) {
    if (members.length === 0) throw new Error('EnsembleNet: no members');
    this.options = { classes: members[0].options.classes, inChannels: members[0].options.inChannels };
  }

  get training(): boolean {
    return this.members[0].training;
  }

  train(mode = true): this {
    for (const m of this.members) m.train(mode);
    return this;
  }

  /** images [N, C, H, W] -> logits of the mean probability [N, classes, H, W] (float32). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let sum: Tensor | null = null;
      for (const m of this.members) {
        // float32 before averaging: under autocast the members' outputs may be bfloat16
        const p = m.probabilities(m.forward(x).to('float32'));
        sum = sum ? sum.add(p) : p;
      }
      const mean = sum!.div(this.members.length);
      return this.options.classes === 1 ? mean.log().sub(mean.neg().log1p()) : mean.log();
    });
  }

  probabilities(logits: Tensor): Tensor {
    return this.options.classes === 1 ? logits.sigmoid() : F.softmax(logits, 1);
  }
}
