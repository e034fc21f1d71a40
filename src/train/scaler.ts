/**
 * Loss scaling for float16 training (as torch.cuda.amp.GradScaler): small
 * gradients would underflow in float16, so the loss is multiplied by a large
 * scale before backward and the gradients divided by it before the step; a step
 * whose gradients overflowed is skipped and the scale halved.
 */
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export class GradScaler {
  scale: number;
  private goodSteps = 0;

  constructor(
    private readonly options: { initScale?: number; growthFactor?: number; backoffFactor?: number; growthInterval?: number } = {},
  ) {
    this.scale = options.initScale ?? 65536;
  }

  /** loss * scale, for backward. */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.scale);
  }

  /**
   * Divides the gradients by the scale; returns false (and lowers the scale)
   * when any is inf/NaN, in which case the caller must skip the step.
   */
  unscale(params: Tensor[]): boolean {
    let finite = true;
    noGrad(() => {
      for (const p of params) {
        const g = p.grad;
        if (!g) continue;
        g.mul_(1 / this.scale);
        if (tidy(() => g.isfinite().logicalNot().sum().item()) > 0) finite = false;
        g.dispose();
      }
    });
    if (finite) {
      if (++this.goodSteps >= (this.options.growthInterval ?? 2000)) {
        this.scale *= this.options.growthFactor ?? 2;
        this.goodSteps = 0;
      }
    } else {
      this.scale *= this.options.backoffFactor ?? 0.5;
      this.goodSteps = 0;
    }
    return finite;
  }
}
