import { Tensor } from '../tensor/tensor.js';
import { native } from '../tensor/native.js';
import { Optimizer, type ParamUpdate } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW: decoupled weight decay (param *= 1 - lr * weightDecay) instead of L2 in the gradient. */
  decoupled?: boolean;
}

/**
 * Adam (and AdamW with `decoupled: true`), following torch.optim.Adam's
 * update. All parameters are updated in one native call (libtorch's
 * multi-tensor _foreach ops) instead of eight calls per parameter; the
 * arithmetic is that of PyTorch's single-tensor loop, op for op.
 */
export class Adam extends Optimizer<Required<AdamOptions>> {
  constructor(params: Tensor[], options: AdamOptions) {
    super(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupled: false, ...options });
  }

  protected update(updates: readonly ParamUpdate[]): void {
    const { lr, betas, eps, weightDecay, decoupled } = this.options;
    // parameters that began training at different times are at different step counts (usually all at one)
    const byStep = new Map<number, ParamUpdate[]>();
    for (const u of updates) {
      const { param, state } = u;
      if (state.exp_avg === undefined) {
        state.step = 0;
        this.setState(state, 'exp_avg', zerosLike(param));
        this.setState(state, 'exp_avg_sq', zerosLike(param));
      }
      state.step = (state.step as number) + 1;
      const group = byStep.get(state.step) ?? [];
      group.push(u);
      byStep.set(state.step, group);
    }
    for (const [step, group] of byStep) {
      const handles = (key: 'exp_avg' | 'exp_avg_sq') => group.map((u) => (u.state[key] as Tensor).handle);
      native.adamStep(
        group.map((u) => u.param.handle), group.map((u) => u.grad.handle), handles('exp_avg'), handles('exp_avg_sq'),
        lr, betas[0], betas[1], eps, weightDecay, decoupled, step,
      );
    }
  }
}

/**
 * Zeros in the parameter's memory layout (as torch.zeros_like): moments of a
 * channels-last weight kept in NCHW would make every elementwise update
 * stride across the layouts instead of running over contiguous memory.
 */
function zerosLike(param: Tensor): Tensor {
  return param.clone().fill_(0);
}

/** AdamW: Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW). */
export class AdamW extends Adam {
  constructor(params: Tensor[], options: Omit<AdamOptions, 'decoupled'>) {
    super(params, { weightDecay: 0.01, ...options, decoupled: true });
  }
}
