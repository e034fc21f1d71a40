import { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/create.js';
import { Optimizer, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW: decoupled weight decay (param *= 1 - lr * weightDecay) instead of L2 in the gradient. */
  decoupled?: boolean;
}

/** Adam (and AdamW with `decoupled: true`), following torch.optim.Adam's single-tensor update. */
export class Adam extends Optimizer<Required<AdamOptions>> {
  constructor(params: Tensor[], options: AdamOptions) {
    super(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupled: false, ...options });
  }

  protected update(param: Tensor, grad: Tensor, state: ParamState): void {
    const { lr, betas, eps, weightDecay, decoupled } = this.options;
    const [beta1, beta2] = betas;
    if (state.exp_avg === undefined) {
      state.step = 0;
      this.setState(state, 'exp_avg', zeros([...param.shape], { device: param.device, dtype: param.dtype }));
      this.setState(state, 'exp_avg_sq', zeros([...param.shape], { device: param.device, dtype: param.dtype }));
    }
    if (state.step instanceof Tensor) {
      // PyTorch keeps the step count as a tensor; here it is a number
      const count = state.step.item();
      state.step.dispose();
      state.step = count;
    }
    const step = (state.step as number) + 1;
    state.step = step;
    if (decoupled && weightDecay !== 0) param.mul_(1 - lr * weightDecay);
    const g = !decoupled && weightDecay !== 0 ? grad.add(param, weightDecay) : grad;
    const expAvg = state.exp_avg as Tensor;
    const expAvgSq = state.exp_avg_sq as Tensor;
    expAvg.mul_(beta1).add_(g, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(g, g, 1 - beta2);
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const root = expAvgSq.sqrt();
    const denom = root.div(Math.sqrt(biasCorrection2)).add_(eps);
    param.addcdiv_(expAvg, denom, -lr / biasCorrection1);
    root.dispose();
    denom.dispose();
    if (g !== grad) g.dispose();
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW). */
export class AdamW extends Adam {
  constructor(params: Tensor[], options: Omit<AdamOptions, 'decoupled'>) {
    super(params, { weightDecay: 0.01, ...options, decoupled: true });
  }
}
