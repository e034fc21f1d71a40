/**
 * Our UNet against a PyTorch module of the same structure and state_dict keys
 * (tools/make_fixtures.py), loaded with PyTorch's weights: for every option
 * combination (bilinear/transpose x same/valid x with/without batch norm x 1/3
 * classes) on odd-sized input [2, C, 37, 45], the logits (training mode, and
 * inference mode with running statistics), the gradient of every parameter and
 * of the input, and the running statistics after the step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNet, type UNetOptions } from '../../src/models/unet.js';
import { noGrad, setNumThreads, tidy } from '../../src/tensor/index.js';
import { assertClose, get, loadFixture, manifest, withPrefix } from '../tensor/fixtures.js';

setNumThreads(2);
const fixture = await loadFixture('unet.safetensors');

for (const c of manifest.unet.cases) {
  const o = c.options as Required<UNetOptions>;
  const shape = `[2,${o.inChannels},37,45]`;
  test(`UNet ${c.name} on ${shape}: logits and all gradients match PyTorch`, (t) => {
    const net = new UNet(o);
    // strict: our parameter and buffer names are exactly PyTorch's
    net.loadStateDict(withPrefix(fixture, `${c.name}.weights.`));
    tidy(() => {
      const input = get(fixture, c.input);
      if (c.eval) {
        net.eval();
        assertClose(t, 'eval logits', noGrad(() => net.forward(input)), get(fixture, `${c.name}.evalLogits`));
      }
      net.train();
      const x = input.clone();
      x.requiresGrad = true;
      const logits = net.forward(x);
      assertClose(t, 'logits', logits, get(fixture, `${c.name}.logits`));
      logits.mul(get(fixture, c.upstream)).sum().backward();
      assertClose(t, 'grad input', x.grad!, get(fixture, `${c.name}.grad.input`));
      const expectedGrads = withPrefix(fixture, `${c.name}.grad.`);
      expectedGrads.delete('input');
      assert.deepEqual(net.namedParameters().map(([k]) => k).sort(), [...expectedGrads.keys()].sort());
      for (const [key, p] of net.namedParameters()) {
        const grad = p.grad;
        assert.ok(grad !== null, `no gradient reached ${key}`);
        assertClose(t, `grad ${key}`, grad, expectedGrads.get(key)!);
      }
      for (const [key, b] of withPrefix(fixture, `${c.name}.buffersAfter.`)) {
        assertClose(t, `${key} after the step`, net.stateDict().get(key)!, b);
      }
    });
    net.dispose();
  });
}
