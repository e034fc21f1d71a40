/**
 * Our UNet against a PyTorch module of the same structure and state_dict keys
 * (tools/make_fixtures.py), loaded with PyTorch's weights: for every option
 * combination (bilinear/transpose x same/valid x with/without batch norm x 1/3
 * classes) on odd-sized input [2, C, 37, 45], the logits (training mode, and
 * inference mode with running statistics), the gradient of every parameter and
 * of the input, and the running statistics after the step.
 *
 * The references are PyTorch's float64 numbers for the same float32 weights and
 * inputs. Our float64 run must match them to float64 rounding (the structure:
 * any wrong op, padding or crop shows at once), and our float32 run to float32
 * rounding (test/close.ts), whichever kernels this CPU's oneDNN picks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNet, type UNetOptions } from '../../src/models/unet.js';
import { noGrad, setNumThreads, tidy, type DType, type Tensor } from '../../src/tensor/index.js';
import type { Reporter } from '../close.js';
import { assertClose, get, loadFixture, manifest, withPrefix } from '../tensor/fixtures.js';

setNumThreads(2);
const fixture = await loadFixture('unet.safetensors');

/**
 * K for one value of a U-Net pass: each of its 3x3 convolutions (two per
 * block, 2 * depth + 1 blocks, and the upsampling convolutions) sums at most
 * N * H * W terms for a weight gradient, more than its C_in * 9 for an output
 * for these widths; a value goes through all of them, forward and back.
 */
function unetTerms(o: Required<UNetOptions>, input: Tensor): number {
  const [n, , h, w] = input.shape;
  const convolutions = 2 * (2 * o.depth + 1) + o.depth + 1;
  return 2 * convolutions * n * h * w;
}

function checkCase(t: Reporter, name: string, o: Required<UNetOptions>, evaluate: boolean, inputKey: string, upstreamKey: string, dtype: DType): void {
  const net = new UNet(o);
  // strict: our parameter and buffer names are exactly PyTorch's
  net.loadStateDict(withPrefix(fixture, `${name}.weights.`));
  net.to(dtype);
  tidy(() => {
    const input = get(fixture, inputKey).to(dtype);
    const terms = unetTerms(o, input);
    if (evaluate) {
      net.eval();
      assertClose(t, `${dtype} eval logits`, noGrad(() => net.forward(input)), get(fixture, `${name}.evalLogits`), terms);
    }
    net.train();
    const x = input.clone();
    x.requiresGrad = true;
    const logits = net.forward(x);
    assertClose(t, `${dtype} logits`, logits, get(fixture, `${name}.logits`), terms);
    logits.mul(get(fixture, upstreamKey).to(dtype)).sum().backward();
    const expectedGrads = withPrefix(fixture, `${name}.grad.`);
    // A gradient that cancels to zero (a convolution's bias in front of batch
    // norm) still carries the rounding of the gradients summed into it: every
    // gradient is compared at the scale of the whole backward pass.
    const gradientScale = Math.max(...[...expectedGrads.values()].map((g) => g.abs().max().item()));
    expectedGrads.delete('input');
    assertClose(t, `${dtype} grad input`, x.grad!, get(fixture, `${name}.grad.input`), terms, { scale: gradientScale });
    assert.deepEqual(net.namedParameters().map(([k]) => k).sort(), [...expectedGrads.keys()].sort());
    for (const [key, p] of net.namedParameters()) {
      const grad = p.grad;
      assert.ok(grad !== null, `no gradient reached ${key}`);
      assertClose(t, `${dtype} grad ${key}`, grad, expectedGrads.get(key)!, terms, { scale: gradientScale });
    }
    for (const [key, b] of withPrefix(fixture, `${name}.buffersAfter.`)) {
      assertClose(t, `${dtype} ${key} after the step`, net.stateDict().get(key)!, b, terms);
    }
  });
  net.dispose();
}

for (const c of manifest.unet.cases) {
  const o = c.options as Required<UNetOptions>;
  const shape = `[2,${o.inChannels},37,45]`;
  test(`UNet ${c.name} on ${shape}: logits and all gradients match PyTorch, in float64 and float32`, (t) => {
    checkCase(t, c.name, o, c.eval, c.input, c.upstream, 'float64');
    checkCase(t, c.name, o, c.eval, c.input, c.upstream, 'float32');
  });
}
