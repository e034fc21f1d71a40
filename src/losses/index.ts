/**
 * Segmentation losses, all computed from logits so that they stay finite:
 * a probability that saturates to 0 or 1 in float32 never reaches a log.
 *
 * Binary losses take logits [N, 1, H, W] and a float mask of the same shape
 * (1 = foreground); multi-class losses take logits [N, C, H, W] and int64
 * class indices [N, H, W].
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
}

/** Mean binary cross-entropy of sigmoid(logits) against the mask. */
export function bce(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  if (options.posWeight === undefined || options.posWeight === 1) return F.binaryCrossEntropyWithLogits(logits, target);
  return tidy(() => {
    const posWeight = full([1], options.posWeight!, { device: logits.device });
    return F.binaryCrossEntropyWithLogits(logits, target, { posWeight });
  });
}

/**
 * Soft Jaccard index J = sum(p*y) / (sum(p) + sum(y) - sum(p*y)) over the whole
 * batch, p = sigmoid(logits). A tiny smoothing term makes an empty prediction of
 * an empty mask J = 1 instead of 0/0.
 */
export function softJaccard(logits: Tensor, target: Tensor, smooth = 1e-6): Tensor {
  return tidy(() => {
    const p = logits.sigmoid();
    const intersection = p.mul(target).sum();
    const union = p.sum().add(target.sum()).sub(intersection);
    return intersection.add(smooth).div(union.add(smooth));
  });
}

/** The original patho's loss: BCE - log(J + 1e-12), J the soft Jaccard of the batch. */
export function bceWithJaccard(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  return tidy(() => bce(logits, target, options).sub(softJaccard(logits, target).add(1e-12).log()));
}

/** 1 - soft Dice over the batch, with add-one smoothing as is usual for Dice losses. */
export function diceLoss(logits: Tensor, target: Tensor, smooth = 1): Tensor {
  return tidy(() => {
    const p = logits.sigmoid();
    const intersection = p.mul(target).sum();
    const total = p.sum().add(target.sum());
    return intersection.mul(2).add(smooth).div(total.add(smooth)).rsub(1);
  });
}

/** BCE + Dice loss. */
export function bceDice(logits: Tensor, target: Tensor, options: BinaryLossOptions = {}): Tensor {
  return tidy(() => bce(logits, target, options).add(diceLoss(logits, target)));
}

/** Cross-entropy over classes, optionally weighted per class. */
export function crossEntropy(logits: Tensor, target: Tensor, options: { classWeights?: Tensor } = {}): Tensor {
  return F.crossEntropy(logits, target, { weight: options.classWeights });
}

/** The loss a name on the command line stands for. */
export function lossByName(name: LossName, options: BinaryLossOptions & { classWeights?: Tensor } = {}): Loss {
  switch (name) {
    case 'bce':
      return (x, y) => bce(x, y, options);
    case 'bce-jaccard':
      return (x, y) => bceWithJaccard(x, y, options);
    case 'dice':
      return (x, y) => diceLoss(x, y);
    case 'bce-dice':
      return (x, y) => bceDice(x, y, options);
    case 'cross-entropy':
      return (x, y) => crossEntropy(x, y, options);
    default:
      throw new Error(`unknown loss '${name}' (use ${LOSS_NAMES.join(', ')})`);
  }
}
