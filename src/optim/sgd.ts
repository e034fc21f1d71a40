import { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamState, type ParamUpdate } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with momentum, as torch.optim.SGD (same update order and state names). */
export class SGD extends Optimizer<Required<SGDOptions>> {
  constructor(params: Tensor[], options: SGDOptions) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
    if (this.options.nesterov && (this.options.momentum <= 0 || this.options.dampening !== 0)) {
      throw new Error('SGD: nesterov needs momentum > 0 and dampening 0');
    }
  }

  protected update(updates: readonly ParamUpdate[]): void {
    for (const { param, grad, state } of updates) this.updateOne(param, grad, state);
  }

  private updateOne(param: Tensor, grad: Tensor, state: ParamState): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = this.options;
    const step = weightDecay !== 0 ? grad.add(param, weightDecay) : grad;
    let direction = step;
    if (momentum !== 0) {
      let buffer = state.momentum_buffer as Tensor | undefined;
      if (buffer === undefined) {
        buffer = this.setState(state, 'momentum_buffer', step.clone());
      } else {
        buffer.mul_(momentum).add_(step, 1 - dampening);
      }
      direction = nesterov ? step.add(buffer, momentum) : buffer;
    }
    param.add_(direction, -lr);
    if (direction !== step && direction !== state.momentum_buffer) direction.dispose();
    if (step !== grad) step.dispose();
  }
}
