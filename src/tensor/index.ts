export { Tensor, isDType, type DType, type Device, type MemoryFormat } from './tensor.js';
export { tensor, fromBytes, zeros, ones, empty, rand, randn, full, arange, type CreateOptions } from './create.js';
export { tidy, keep, dispose, type Disposable } from './scope.js';
export {
  memory, setNumThreads, getNumThreads, manualSeed, getRngState, setRngState, noGrad, isGradEnabled, autocast, mixedPrecision, cuda,
  buildInfo,
} from './runtime.js';
export * from './ops.js';
