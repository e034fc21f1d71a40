/**
 * Test-time augmentation: a prediction averaged over the 8 symmetries of the
 * square (flips and 90-degree rotations), each undone on its prediction
 * before averaging. Tiles and whole images alike: a rotated H x W image is
 * W x H, which a fully convolutional U-Net takes as it is.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { SegmentationNet } from '../train/evaluate.js';

/** Each view of an NCHW batch and the transform that undoes it on the prediction. */
const SYMMETRIES: [(t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
  [(t) => t, (t) => t],
  [(t) => t.flip([3]), (t) => t.flip([3])],
  [(t) => t.flip([2]), (t) => t.flip([2])],
  [(t) => t.flip([2, 3]), (t) => t.flip([2, 3])],
  [(t) => t.rot90(1, [2, 3]), (t) => t.rot90(3, [2, 3])],
  [(t) => t.rot90(3, [2, 3]), (t) => t.rot90(1, [2, 3])],
  [(t) => t.rot90(1, [2, 3]).flip([3]), (t) => t.flip([3]).rot90(3, [2, 3])],
  [(t) => t.rot90(1, [2, 3]).flip([2]), (t) => t.flip([2]).rot90(3, [2, 3])],
];

/** The mean of `predict` (NCHW in, NCHW probabilities out) over the 8 symmetries of `x`; call inside a tidy. */
export function symmetryAverage(predict: (x: Tensor) => Tensor, x: Tensor): Tensor {
  let total: Tensor | null = null;
  for (const [view, undo] of SYMMETRIES) {
    const p = undo(predict(view(x)));
    total = total ? total.add(p) : p;
  }
  return total!.div(SYMMETRIES.length);
}

/**
 * `net` with test-time augmentation, for the evaluators: its `forward`
 * returns the averaged probabilities and its `probabilities` passes them on
 * (a loss on these "logits" would be meaningless: score without one).
 */
export function withTestTimeAugmentation(net: SegmentationNet): SegmentationNet {
  return {
    forward: (x) => symmetryAverage((view) => net.probabilities(net.forward(view)), x),
    probabilities: (p) => p,
    train: (mode) => net.train(mode),
    get training() {
      return net.training;
    },
  };
}
