/**
 * Segmentation losses, all computed from logits so that they stay finite:
 * a probability that saturates to 0 or 1 in float32 never reaches a log.
 *
 * Binary losses take logits [N, 1, H, W] and a float mask of the same shape
 * (1 = foreground); multi-class losses take logits [N, C, H, W] and int64
 * class indices [N, H, W].
 *
 * With `ignoreIndex` (partially annotated slides: IGNORE_LABEL), pixels whose
 * mask holds that value count for nothing: they are left out of every sum,
 * and means are over the other pixels, as PyTorch's cross_entropy does with
 * ignore_index. A batch with no labelled pixel has loss 0 and no gradient
 * (PyTorch would give NaN).
 */
import { full } from '../tensor/create.js';
import * as F from '../tensor/ops.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export type LossName = 'bce' | 'bce-jaccard' | 'dice' | 'bce-dice' | 'cross-entropy';
export const LOSS_NAMES: readonly LossName[] = ['bce', 'bce-jaccard', 'dice', 'bce-dice', 'cross-entropy'];

/** A loss: logits and target to a scalar tensor. */
export type Loss = (logits: Tensor, target: Tensor) => Tensor;

export interface BinaryLossOptions {
  /** Weight of foreground pixels relative to background (BCE's pos_weight); class imbalance. */
  posWeight?: number;
  /** Mask value of pixels left out of the loss. Default: none. */
  ignoreIndex?: number;
}

/** A binary mask with ignored pixels set to 0, and a float 0/1 mask of the labelled ones (null without ignoreIndex). */
interface Labelled {
  target: Tensor;
  valid: Tensor | null;
}

function labelled(target: Tensor, ignoreIndex: number | undefined): Labelled {
  if (ignoreIndex === undefined) return { target, valid: null };
  const valid = target.ne(ignoreIndex).to(target.dtype);
  return { target: target.mul(valid), valid };
}

function bceOf(logits: Tensor, { target: y, valid }: Labelled, posWeightValue: number | undefined): Tensor {
  const posWeight = posWeightValue !== undefined && posWeightValue !== 1 ? full([1], posWeightValue, { device: logits.device }) : undefined;
  if (!valid) return F.binaryCrossEntropyWithLogits(logits, y, { posWeight });
  return F.binaryCrossEntropyWithLogits(logits, y, { posWeight, weight: valid, reduction: 'sum' }).div(valid.sum().clamp(1, null));
}

function softJaccardOf(logits: Tensor, { target, valid }: Labelled, smooth: number): Tensor {
  const p = valid ? logits.sigmoid().mul(valid) : logits.sigmoid();
  const intersection = p.mul(target).sum();
  const union = p.sum().add(target.sum()).sub(intersection);
  return intersection.add(smooth).div(union.add(smooth));
}

function diceLossOf(logits: Tensor, { target, valid }: Labelled, smooth: number): Tensor {
  const p = valid ? logits.sigmoid().mul(valid) : logits.sigmoid();
  const intersection = p.mul(target).sum();
  const total = p.sum().add(target.sum());
  return intersection.mul(2).add(smooth).div(total.add(smooth)).rsub(1);
}

/** Mean binary cross-entropy of sigmoid(logits) against the mask (over the labelled pixels). */
export function bce(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  const weighted = options.posWeight !== undefined && options.posWeight !== 1;
  if (!weighted && options.ignoreIndex === undefined) return F.binaryCrossEntropyWithLogits(logits, target);
  return tidy(() => bceOf(logits, labelled(target, options.ignoreIndex), options.posWeight));
}

/**
 * Soft Jaccard index J = sum(p*y) / (sum(p) + sum(y) - sum(p*y)) over the whole
 * batch, p = sigmoid(logits). A tiny smoothing term makes an empty prediction of
 * an empty mask J = 1 instead of 0/0.
 */
export function softJaccard(logits: Tensor, target: Tensor, smooth = 1e-6, ignoreIndex?: number): Tensor {
  return tidy(() => softJaccardOf(logits, labelled(target, ignoreIndex), smooth));
}

/** The original patho's loss: BCE - log(J + 1e-12), J the soft Jaccard of the batch. */
export function bceWithJaccard(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  return tidy(() => {
    const y = labelled(target, options.ignoreIndex);
    return bceOf(logits, y, options.posWeight).sub(softJaccardOf(logits, y, 1e-6).add(1e-12).log());
  });
}

/** 1 - soft Dice over the batch, with add-one smoothing as is usual for Dice losses. */
export function diceLoss(logits: Tensor, target: Tensor, smooth = 1, ignoreIndex?: number): Tensor {
  return tidy(() => diceLossOf(logits, labelled(target, ignoreIndex), smooth));
}

/** BCE + Dice loss. */
export function bceDice(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  return tidy(() => {
    const y = labelled(target, options.ignoreIndex);
    return bceOf(logits, y, options.posWeight).add(diceLossOf(logits, y, 1));
  });
}

/**
 * Cross-entropy over classes, optionally weighted per class: the weighted
 * mean over the labelled pixels, sum(w[y] * loss) / sum(w[y]), as PyTorch's.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: { classWeights?: Tensor; ignoreIndex?: number } = {}): Tensor {
  const { classWeights: weight, ignoreIndex } = options;
  if (ignoreIndex === undefined) return F.crossEntropy(logits, target, { weight });
  return tidy(() => {
    // PyTorch's weighted mean over the labelled pixels, its denominator computed on the device;
    // with no labelled pixel that mean is 0/0, so such a batch gives 0 instead (no host copy,
    // no sync: the test stays on the device). Its gradient is zero either way: nll_loss's
    // backward writes nothing for ignored pixels.
    const mean = F.crossEntropy(logits, target, { weight, ignoreIndex });
    return F.where(target.ne(ignoreIndex).sum().gt(0), mean, 0);
  });
}

/** The loss a name on the command line stands for. */
export function lossByName(name: LossName, options: BinaryLossOptions & { classWeights?: Tensor } = {}): Loss {
  switch (name) {
    case 'bce':
      return (x, y) => bce(x, y, options);
    case 'bce-jaccard':
      return (x, y) => bceWithJaccard(x, y, options);
    case 'dice':
      return (x, y) => diceLoss(x, y, 1, options.ignoreIndex);
    case 'bce-dice':
      return (x, y) => bceDice(x, y, options);
    case 'cross-entropy':
      return (x, y) => crossEntropy(x, y, options);
    default:
      throw new Error(`unknown loss '${name}' (use ${LOSS_NAMES.join(', ')})`);
  }
}
