/**
 * Module: the base of every layer and network, with PyTorch's naming so that
 * `stateDict()` keys equal those of the equivalent `torch.nn.Module`.
 */
import { keep } from '../tensor/scope.js';
import { noGrad } from '../tensor/runtime.js';
import { Tensor, type Device, type DType, type MemoryFormat } from '../tensor/tensor.js';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  /** Training mode (batch statistics, dropout) vs evaluation mode. */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private disposed = false;

  /** Registers a learnable tensor; it requires grad and outlives tidy scopes. */
  protected registerParameter(name: string, value: Tensor): Tensor {
    value.requiresGrad = true;
    this.params.set(name, keep(value));
    return value;
  }

  /** Registers state that is saved but not learned (running statistics). */
  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.buffers.set(name, keep(value));
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  protected parameter(name: string): Tensor {
    return this.params.get(name)!;
  }
  protected buffer(name: string): Tensor {
    return this.buffers.get(name)!;
  }
  protected hasParameter(name: string): boolean {
    return this.params.has(name);
  }

  /** Children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Parameters with dotted names ("down1.conv.0.weight"), in PyTorch's order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.params) out.push([prefix + name, p]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.buffers) out.push([prefix + name, b]);
    for (const [name, child] of this.children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /**
   * The live parameters and buffers by PyTorch state_dict key (each module's
   * parameters, then its buffers, then its children). The tensors belong to the
   * module: do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = new Map();
    for (const [name, p] of this.params) out.set(prefix + name, p);
    for (const [name, b] of this.buffers) out.set(prefix + name, b);
    for (const [name, child] of this.children) for (const [k, v] of child.stateDict(`${prefix}${name}.`)) out.set(k, v);
    return out;
  }

  /**
   * Copies values into this module's tensors. With `strict` (default), missing,
   * unexpected or mis-shaped keys are one error that lists them all.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const source = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !source.has(k));
    const unexpected = [...source.keys()].filter((k) => !own.has(k));
    const misshaped: string[] = [];
    for (const [key, target] of own) {
      const value = source.get(key);
      if (value && !sameShape(value.shape, target.shape)) {
        misshaped.push(`${key}: checkpoint [${value.shape}] vs model [${target.shape}]`);
      }
    }
    const problems: string[] = [];
    if (misshaped.length) problems.push(`mis-shaped keys: ${misshaped.join('; ')}`);
    if (options.strict !== false) {
      if (missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    }
    if (problems.length) throw new Error(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [key, target] of own) {
        const value = source.get(key);
        if (value) target.copy_(value);
      }
    });
  }

  /** Sets training mode here and in every child. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Moves/converts every parameter and buffer (as `module.to(...)`); floating
   * dtypes only change floating tensors. Make optimizers after moving.
   */
  to(target: Device | DType): this {
    const isDtype = !target.startsWith('cpu') && !target.startsWith('cuda');
    const convert = (t: Tensor): Tensor => {
      if (isDtype && !t.dtype.startsWith('float') && t.dtype !== 'bfloat16') return t;
      const moved = noGrad(() => t.to(target));
      return moved;
    };
    for (const [name, p] of this.params) {
      const moved = convert(p);
      if (moved !== p) {
        p.dispose();
        this.registerParameter(name, moved);
      }
    }
    for (const [name, b] of this.buffers) {
      const moved = convert(b);
      if (moved !== b) {
        b.dispose();
        this.registerBuffer(name, moved);
      }
    }
    for (const child of this.children.values()) child.to(target);
    return this;
  }

  /**
   * Re-lays 4-D parameters out channels-last (NHWC in memory), which oneDNN and
   * cuDNN convolutions run faster on; as `model.to(memory_format=...)`.
   */
  toMemoryFormat(format: MemoryFormat): this {
    for (const [name, p] of this.params) {
      if (p.rank !== 4 || p.isContiguous(format)) continue;
      const relaid = noGrad(() => p.contiguous(format));
      p.dispose();
      this.registerParameter(name, relaid);
    }
    for (const child of this.children.values()) child.toMemoryFormat(format);
    return this;
  }

  /** Drops accumulated gradients (set to none, as PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees every parameter and buffer. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.params.values()) p.dispose();
    for (const b of this.buffers.values()) b.dispose();
    for (const child of this.children.values()) child.dispose();
  }

  /** Number of learnable values. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
