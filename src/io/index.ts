/** Checkpoint files: PyTorch's zip format and safetensors, in pure TypeScript. */

export { ByteBudget, defaultLoadLimit } from './budget.js';
export { ALLOWED_GLOBALS, loadObject, saveObject, type LoadOptions } from './checkpoint.js';
export { CheckpointError } from './errors.js';
export { loadSafetensors, saveSafetensors, type SafetensorsFile } from './safetensors.js';
export {
  asFloat32Array,
  checkTensorData,
  denseBytes,
  DTYPE_SIZE,
  fromFloat32Array,
  isTensorData,
  numel,
  PyFloat,
  tensorData,
  type DType,
  type TensorData,
  viewSpan,
  type Value,
} from './value.js';
