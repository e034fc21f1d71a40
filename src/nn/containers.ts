/** Containers whose children are named "0", "1", ... as in PyTorch. */
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** A module whose forward takes one tensor and returns one. */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/**
 * Runs its layers in order. Intermediate results are disposed as soon as the
 * next layer has consumed them; autograd keeps what backward needs.
 */
export class Sequential extends Module {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers.map((layer, i) => this.registerModule(String(i), layer));
  }
  forward(x: Tensor): Tensor {
    let current = x;
    for (const layer of this.layers) {
      const next = layer.forward(current);
      if (current !== x && next !== current) current.dispose();
      current = next;
    }
    return current;
  }
}

/** A list of modules registered as "0", "1", ... with no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.push(m);
  }
  push(module: M): M {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return module;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i];
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
