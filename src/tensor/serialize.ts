/**
 * Saving and loading tensors in PyTorch's formats: the bridge between live
 * tensors and the addon-free checkpoint code in src/io.
 */
import { loadObject, saveObject } from '../io/checkpoint.js';
import { isTensorData, type TensorData, type Value } from '../io/value.js';
import { fromBytes } from './create.js';
import { Tensor, type Device } from './tensor.js';

/** What `save` accepts: tensors, maps/objects/arrays of them, and plain JSON-like values. */
export type Savable = Tensor | Map<string, Savable> | Savable[] | { [key: string]: Savable } | string | number | boolean | null | undefined;

/** What `load` returns: the same structure with tensors restored (maps come back as plain objects). */
export type Loaded = Tensor | Loaded[] | { [key: string]: Loaded } | string | number | bigint | boolean | null;

/**
 * Writes `value` atomically to `path` (temporary file, then rename): PyTorch's
 * zip format that `torch.load` reads as dicts of tensors, or `.safetensors`.
 */
export async function save(value: Savable, path: string): Promise<void> {
  await saveObject(toValue(value), path);
}

/** Reads a file written by `save` or by `torch.save` (never runs code from it); tensors go to `device`. */
export async function load(path: string, options: { device?: Device } = {}): Promise<Loaded> {
  return fromValue(await loadObject(path), options.device ?? 'cpu');
}

/** Loads a state dict file (a flat name -> tensor mapping, possibly nested under 'state_dict' or 'model'). */
export async function loadStateDictFile(path: string, options: { device?: Device } = {}): Promise<Map<string, Tensor>> {
  const loaded = await load(path, options);
  const flat = pickStateDict(loaded);
  if (!flat) throw new Error(`${path}: no state dict (a mapping of names to tensors) found`);
  return flat;
}

function pickStateDict(value: Loaded): Map<string, Tensor> | null {
  if (value === null || typeof value !== 'object' || value instanceof Tensor || Array.isArray(value)) return null;
  const entries = Object.entries(value);
  if (entries.length > 0 && entries.every(([, v]) => v instanceof Tensor)) return new Map(entries as [string, Tensor][]);
  for (const key of ['state_dict', 'model']) {
    if (key in value) {
      const nested = pickStateDict(value[key]);
      if (nested) return nested;
    }
  }
  return null;
}

/** Converts live tensors to the neutral checkpoint value model (copies bytes to the host). */
export function toValue(value: Savable): Value {
  if (value instanceof Tensor) {
    const dtype = value.dtype;
    return { kind: 'tensor', dtype, shape: [...value.shape], data: value.toBytes() } satisfies TensorData;
  }
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, toValue(v)]));
  if (Array.isArray(value)) return value.map(toValue);
  if (value === undefined) return null;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toValue(v)]));
  }
  return value;
}

/**
 * Turns TensorData in a loaded value into tensors on `device`. An object the
 * value shares (tied weights, a list referenced twice) is converted once and
 * shared in the result too, so the work and memory follow the value's size,
 * not the number of paths through it.
 */
export function fromValue(value: Value, device: Device = 'cpu'): Loaded {
  const converted = new Map<object, Loaded>();
  const convert = (v: Value): Loaded => {
    if (v === null || typeof v !== 'object') return v as Loaded;
    const known = converted.get(v);
    if (known !== undefined) return known;
    let result: Loaded;
    if (isTensorData(v)) {
      const t = fromBytes(v.data, v.dtype, v.shape, v.strides);
      result = device === 'cpu' ? t : t.to(device);
      if (result !== t) t.dispose();
    } else if (Array.isArray(v)) result = v.map(convert);
    else result = Object.fromEntries(Object.entries(v).map(([k, item]) => [k, convert(item as Value)]));
    converted.set(v, result);
    return result;
  };
  return convert(value);
}
