/** What every optimizer shares: its parameters, per-parameter state and saving it. */
import { noGrad } from '../tensor/runtime.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** Per-parameter state: tensors (moment buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** A parameter to update, its gradient and its state. */
export interface ParamUpdate {
  param: Tensor;
  grad: Tensor;
  state: ParamState;
}

/** The PyTorch-shaped optimizer state dict: { state: {index: {...}}, param_groups: [{..., params: [indices]}] }. */
export interface OptimizerStateDict {
  state: Record<string, ParamState>;
  param_groups: Record<string, unknown>[];
}

export abstract class Optimizer<Options extends { lr: number }> {
  protected readonly state = new Map<Tensor, ParamState>();
  readonly params: Tensor[];
  options: Options;

  constructor(params: Tensor[], options: Options) {
    if (params.length === 0) throw new Error(`${this.constructor.name}: no parameters to optimize`);
    if (!(options.lr >= 0)) throw new Error(`${this.constructor.name}: lr must be >= 0, got ${options.lr}`);
    this.params = params;
    this.options = options;
  }

  get lr(): number {
    return this.options.lr;
  }
  set lr(value: number) {
    this.options.lr = value;
  }

  /** Applies one update from the accumulated gradients; parameters without a gradient are skipped. */
  step(): void {
    const updates: ParamUpdate[] = [];
    for (const param of this.params) {
      const grad = param.grad;
      if (grad !== null) updates.push({ param, grad, state: this.stateOf(param) });
    }
    try {
      noGrad(() => this.update(updates));
    } finally {
      for (const u of updates) u.grad.dispose();
    }
  }

  /** Drops the gradients of every parameter (set to none, as PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Updates the parameters that have gradients (all at once, or one by one). */
  protected abstract update(updates: readonly ParamUpdate[]): void;

  private stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** Stores a state tensor, keeping it alive across tidy scopes. */
  protected setState(state: ParamState, key: string, value: Tensor): Tensor {
    const old = state[key];
    if (old instanceof Tensor && old !== value) old.dispose();
    state[key] = keep(value);
    return value;
  }

  /** State in PyTorch's layout; tensors are the optimizer's own (do not dispose). */
  stateDict(): OptimizerStateDict {
    const state: Record<string, ParamState> = {};
    this.params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s) state[String(i)] = { ...s };
    });
    return { state, param_groups: [{ ...this.options, params: this.params.map((_, i) => i) }] };
  }

  /** Restores state saved by stateDict() (copies the tensors). */
  loadStateDict(dict: OptimizerStateDict): void {
    const group = dict.param_groups[0];
    const indices = group?.params as number[] | undefined;
    if (!indices || indices.length !== this.params.length) {
      throw new Error(`optimizer state has ${indices?.length ?? 0} parameters but this optimizer has ${this.params.length}`);
    }
    const { params: _ignored, ...options } = group;
    this.options = { ...this.options, ...(options as Partial<Options>) };
    this.disposeState();
    for (const [key, saved] of Object.entries(dict.state)) {
      const p = this.params[Number(key)];
      if (!p) throw new Error(`optimizer state names parameter ${key}, which does not exist`);
      const s: ParamState = {};
      for (const [name, value] of Object.entries(saved)) {
        if (name === 'step' && value instanceof Tensor && value.numel === 1) {
          // PyTorch keeps step counts as tensors; here they are numbers, read once on loading
          s[name] = value.item();
        } else if (value instanceof Tensor) {
          if (value.numel !== 1 && value.shape.join() !== p.shape.join() && name !== 'step') {
            throw new Error(`optimizer state ${key}.${name} has shape [${value.shape}] but the parameter is [${p.shape}]`);
          }
          // in the parameter's layout: a channels-last model's moments stay channels-last after a resume
          const channelsLast = value.rank === 4 && p.rank === 4 && !p.isContiguous() && p.isContiguous('channelsLast');
          s[name] = keep(noGrad(() => tidy(() => {
            const moved = value.to({ device: p.device });
            // contiguous() copies only when the layout changes; clone() always does
            return channelsLast && !moved.isContiguous('channelsLast') ? moved.contiguous('channelsLast') : moved.clone();
          })));
        } else {
          s[name] = value;
        }
      }
      this.state.set(p, s);
    }
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    this.disposeState();
  }
}
