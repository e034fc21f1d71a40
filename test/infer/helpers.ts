/** Networks whose output is known, for testing inference without training. */
import { UNet, type UNetOptions } from '../../src/models/unet.js';
import { randn, tensor } from '../../src/tensor/create.js';
import { manualSeed, noGrad } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { conv2d } from '../../src/tensor/ops.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import type { InferenceNet } from '../../src/infer/tiled.js';

/**
 * A network of known output: sigmoid(4 * channel 0 - 2), pointwise (a tile
 * sees all it needs, so tiling changes nothing) for `kernel` 1, or after a
 * 3x3 box blur for `kernel` 3, which differs from a whole-image pass within a
 * pixel of a tile edge.
 */
export function fixedConvNet(inChannels: number, kernel: 1 | 3 = 1): InferenceNet & { dispose(): void } {
  const weights = new Float32Array(inChannels * 9);
  weights.fill(4 / 9, 0, 9); // channel 0 only
  const weight = tensor(weights, [1, inChannels, 3, 3]);
  return {
    options: { classes: 1, inChannels },
    forward: (x: Tensor) => (kernel === 1 ? x.slice(1, 0, 1).mul(4) : conv2d(x, weight, null, { padding: 1 })).sub(2),
    probabilities: (logits: Tensor) => logits.sigmoid(),
    dispose: () => weight.dispose(),
  };
}

/** A smooth synthetic planar image with some texture, [channels, height, width]. */
export function syntheticImage(width: number, height: number, channels = 3): { width: number; height: number; channels: number; data: Float32Array } {
  const data = new Float32Array(channels * width * height);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        data[(c * height + y) * width + x] = Math.sin(x / 17 + c) * Math.cos(y / 23) + 0.3 * Math.sin((x * y) / 900);
      }
    }
  }
  return { width, height, channels, data };
}

/** A U-Net in eval mode whose batch norms hold non-trivial statistics and affine parameters. */
export function unetWithStatistics(options: UNetOptions, seed = 1): UNet {
  manualSeed(seed);
  const net = new UNet(options);
  noGrad(() =>
    tidy(() => {
      for (const [name, t] of net.stateDict()) {
        const shape = [...t.shape];
        if (name.endsWith('running_mean')) t.copy_(randn(shape).mul(0.3));
        else if (name.endsWith('running_var')) t.copy_(randn(shape).abs().add(0.5));
        else if (/\d\.(weight|bias)$/.test(name) && t.rank === 1 && !name.startsWith('outc')) t.copy_(randn(shape).mul(0.2).add(name.endsWith('weight') ? 1 : 0));
      }
    }),
  );
  return net.eval();
}
