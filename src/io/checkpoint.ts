/**
 * PyTorch checkpoint files (`torch.save` / `torch.load`'s zip format) in pure
 * TypeScript, so weights move between patho and PyTorch without the addon.
 *
 * Reading is restricted like PyTorch's `weights_only` loader: the pickle may
 * only name the globals in ALLOWED_GLOBALS, so a checkpoint can never run code.
 */

import { open } from 'node:fs/promises';

import { writeFileAtomic } from './atomic.js';
import { ByteBudget, defaultLoadLimit } from './budget.js';
import { CheckpointError, inFile } from './errors.js';
import { describe, Pickler, PyCallable, PyGlobal, unpickle } from './pickle.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { checkTensorData, DTYPE_SIZE, isTensorData, numel, viewSpan, type DType, type TensorData, type Value } from './value.js';
import { fileSource, ZipFormatError, ZipReader, ZipWriter, type ByteSource } from './zip.js';

/** The pickled class name of each dtype's storage, as torch.save writes it. */
const STORAGE_TYPES: Readonly<Record<DType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

const DTYPE_OF_STORAGE = new Map(Object.entries(STORAGE_TYPES).map(([dtype, name]) => [name, dtype as DType]));

/** Folder inside the archive; PyTorch accepts any single top-level folder. */
const ARCHIVE = 'archive';
/** The serialization format version torch.save writes. */
const FORMAT_VERSION = '3\n';

/** The globals a checkpoint may name: everything else is refused. */
export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.values(STORAGE_TYPES).map((name) => `torch.${name}`),
];

/**
 * Writes `value` to `path`, atomically. A path ending in `.safetensors` gets
 * the safetensors format (`value` must then be a flat object of tensors);
 * any other path gets PyTorch's zip format, which `torch.load` reads back
 * as the same structure: objects become dicts (keys that are canonical
 * integers, such as an optimizer's state keys, become Python ints), arrays
 * become lists, integral numbers become ints (wrap in PyFloat to force a
 * float), and tensors become CPU tensors. Tensors whose `data` is the same
 * Uint8Array object share one storage, as tied weights do in PyTorch.
 */
export async function saveObject(value: Value, path: string): Promise<void> {
  if (path.endsWith('.safetensors')) {
    return saveSafetensors(path, asTensorDict(value, path));
  }
  return inFile(path, async () => {
    const { pickle, storages } = pickleCheckpoint(value);
    await writeFileAtomic(path, async (write) => {
      const zip = new ZipWriter(write);
      await zip.add(`${ARCHIVE}/data.pkl`, pickle);
      await zip.add(`${ARCHIVE}/byteorder`, new TextEncoder().encode('little'));
      for (const [index, bytes] of storages.entries()) await zip.add(`${ARCHIVE}/data/${index}`, bytes);
      await zip.add(`${ARCHIVE}/version`, new TextEncoder().encode(FORMAT_VERSION));
      await zip.finish();
    });
  });
}

function asTensorDict(value: Value, path: string): Record<string, TensorData> {
  const isDict =
    typeof value === 'object' && value !== null && !Array.isArray(value) && !isTensorData(value);
  if (!isDict || !Object.values(value).every(isTensorData)) {
    throw new CheckpointError(path, 'a .safetensors file can only hold a flat object of tensors');
  }
  return value as Record<string, TensorData>;
}

/** The pickle of `value` and the storages its tensors refer to by index. */
function pickleCheckpoint(value: Value): { pickle: Uint8Array; storages: Uint8Array[] } {
  const storages: Uint8Array[] = [];
  const storageOf = new Map<Uint8Array, { index: number; dtype: DType }>();
  const pickler = new Pickler((tensor, p) => {
    checkTensorData(tensor);
    let storage = storageOf.get(tensor.data);
    if (storage === undefined || storage.dtype !== tensor.dtype) {
      storage = { index: storages.length, dtype: tensor.dtype };
      storages.push(tensor.data);
      storageOf.set(tensor.data, storage);
    }
    const { index } = storage;
    // a view (TensorData.strides) is written as one, over the storage it spans
    const strides = tensor.strides ?? contiguousStrides(tensor.shape);
    // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.tuple(6, () => {
      p.tuple(5, () => {
        p.str('storage');
        p.global('torch', STORAGE_TYPES[tensor.dtype]);
        p.str(String(index));
        p.str('cpu');
        p.int(tensor.data.byteLength / DTYPE_SIZE[tensor.dtype]);
      });
      p.persistentId();
      p.int(0);
      p.tuple(tensor.shape.length, () => tensor.shape.forEach((d) => p.int(d)));
      p.tuple(strides.length, () => strides.forEach((s) => p.int(s)));
      p.dump(false);
      p.global('collections', 'OrderedDict');
      p.tuple(0, () => {});
      p.reduce();
    });
    p.reduce();
  });
  pickler.dump(value);
  return { pickle: pickler.finish(), storages };
}

/** Row-major strides, computed as PyTorch does (a size-0 dimension counts as 1). */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= Math.max(shape[d], 1);
  }
  return strides;
}

/** Options of loadObject. */
export interface LoadOptions {
  /**
   * Counts, and limits, the bytes the load materialises: the entries it
   * reads, the storage bytes every tensor spans, and the heap its
   * unpickled objects take (estimated per opcode). Default: a fresh
   * budget of defaultLoadLimit(size of the file). Read `used` afterwards to
   * see what a load cost.
   */
  budget?: ByteBudget;
}

/**
 * Reads a checkpoint written by `torch.save` (PyTorch >= 1.6 zip format) or
 * by saveObject, or a `.safetensors` file (as a flat object of tensors).
 * Nothing in the file is executed: globals outside ALLOWED_GLOBALS are
 * refused with an error naming them. Dicts come back as objects whose int
 * keys have become strings (`optimizer.state_dict()['state'][0]` is
 * `state['0']`), tuples as arrays, Python attributes such as a state dict's
 * `_metadata` are dropped, and tensors share the bytes of their storage:
 * a view with strides stays a view (TensorData.strides), as torch.load
 * returns it, so a stride-0 tensor costs only its storage. An object
 * the pickle shares (tied weights, a list referenced twice) comes back as one
 * object, referenced twice.
 *
 * Any file loads in time and memory bounded by its size, or is refused with
 * a CheckpointError naming it: only storages the pickle uses are read, the
 * bytes materialised are charged to `options.budget`, and values that
 * contain themselves, nest deeper than 1000 levels, or expand (counting a
 * shared object wherever it appears) far beyond the size of their pickle are
 * refused, so code that walks the result as a tree cannot be made to hang.
 */
export async function loadObject(path: string, options: LoadOptions = {}): Promise<Value> {
  if (path.endsWith('.safetensors')) return (await loadSafetensors(path)).tensors;
  return inFile(path, async () => {
    const file = await open(path, 'r');
    try {
      const source = fileSource(file, (await file.stat()).size);
      const budget = options.budget ?? new ByteBudget(defaultLoadLimit(source.size));
      return await readCheckpoint(await openArchive(source), budget);
    } finally {
      await file.close();
    }
  });
}

async function openArchive(source: ByteSource): Promise<ZipReader> {
  const magic = source.size >= 4 ? await source.read(0, 4) : new Uint8Array(0);
  const isZip = magic.length === 4 && magic[0] === 0x50 && magic[1] === 0x4b && magic[2] === 3 && magic[3] === 4;
  if (!isZip) throw new Error('not a PyTorch zip archive (legacy pre-1.6 format is not supported)');
  try {
    return await ZipReader.open(source);
  } catch (error) {
    if (error instanceof ZipFormatError) throw new Error(`corrupt zip archive: ${error.message}`);
    throw error;
  }
}

/** Reads entry `name` of `zip`, charging its size to `budget` first. */
async function readEntry(zip: ZipReader, name: string, budget: ByteBudget): Promise<Uint8Array> {
  budget.charge(zip.entries.get(name)?.size ?? 0, `entry ${name}`);
  return zip.read(name);
}

/** A storage as the pickle refers to it; its bytes are read after unpickling, and only if used. */
class Storage {
  bytes: Uint8Array = new Uint8Array(0);

  constructor(
    readonly entryName: string,
    readonly dtype: DType,
    /** Bytes of the entry, checked against every tensor built on it before anything is read. */
    readonly size: number,
  ) {}
}

/** A tensor the pickle built, waiting for its storage's bytes. */
interface PendingTensor {
  tensor: TensorData;
  storage: Storage;
  offset: number;
}

/**
 * The tensors of one load: storages are looked up when the pickle names
 * them, tensors are checked against their storage's size and charged to the
 * budget when the pickle builds them, and only then are the storages read.
 */
class TensorRecords {
  private readonly storages = new Map<string, Storage>();
  private readonly pending: PendingTensor[] = [];

  constructor(
    private readonly zip: ZipReader,
    /** Entry name prefix of the storages, `archive/data/`. */
    private readonly dataPrefix: string,
    private readonly budget: ByteBudget,
  ) {}

  /** BINPERSID: `('storage', storage_type, key, location, numel)`. */
  storage(pid: unknown): Storage {
    const [kind, type, key] = Array.isArray(pid) ? pid : [];
    const dtype = type instanceof PyGlobal ? DTYPE_OF_STORAGE.get(type.name) : undefined;
    if (kind !== 'storage' || dtype === undefined || typeof key !== 'string') {
      throw new Error('unsupported persistent id (expected a tensor storage)');
    }
    let storage = this.storages.get(key);
    if (storage === undefined) {
      const entryName = `${this.dataPrefix}${key}`;
      const entry = this.zip.entries.get(entryName);
      if (entry === undefined) throw new Error(`missing storage record data/${key}`);
      if (entry.size % DTYPE_SIZE[dtype] !== 0) throw new Error(`storage data/${key} has a partial element`);
      this.budget.charge(entry.size, `storage data/${key}`);
      storage = new Storage(entryName, dtype, entry.size);
      this.storages.set(key, storage);
    }
    if (storage.dtype !== dtype) throw new Error(`storage data/${key} is used as both ${storage.dtype} and ${dtype}`);
    return storage;
  }

  /** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])` */
  rebuild(args: unknown[]): TensorData {
    const [storage, offset, pickledShape, pickledStrides] = args;
    if (!(storage instanceof Storage) || !Number.isSafeInteger(offset) || !isIndexList(pickledShape) || !isIndexList(pickledStrides)) {
      throw new Error('corrupt tensor record (_rebuild_tensor_v2 arguments)');
    }
    // Copies: the pickle could append to these lists after the checks below.
    const [shape, strides] = [[...pickledShape], [...pickledStrides]];
    if (strides.length !== shape.length) throw new Error('corrupt tensor record (size and stride differ in length)');
    const size = DTYPE_SIZE[storage.dtype];
    const start = offset as number;
    const tensor: TensorData = { kind: 'tensor', dtype: storage.dtype, shape, data: new Uint8Array(0) };
    if (numel(shape) === 0) return tensor;
    const last = shape.reduce((end, d, i) => end + (d - 1) * strides[i], start);
    if (start < 0 || !((last + 1) * size <= storage.size)) {
      throw new Error(`tensor of shape [${shape.join(', ')}] reaches beyond its storage`);
    }
    // A dense tensor is charged its size, a view the storage it spans (TensorData.strides):
    // the addon copies each into a tensor of its own, and a stride-0 view stays a view.
    const rowMajor = contiguousStrides(shape);
    const dense = shape.every((d, i) => d === 1 || strides[i] === rowMajor[i]);
    this.budget.charge((last - start + 1) * size, `tensor of shape [${shape.join(', ')}]`);
    if (!dense) tensor.strides = strides;
    this.pending.push({ tensor, storage, offset: start });
    return tensor;
  }

  /** Reads the storages the pickle used and fills in the tensors' bytes. */
  async materialise(): Promise<void> {
    for (const storage of this.storages.values()) storage.bytes = await this.zip.read(storage.entryName);
    for (const { tensor, storage, offset } of this.pending) {
      const size = DTYPE_SIZE[tensor.dtype];
      const elements = tensor.strides === undefined ? numel(tensor.shape) : viewSpan(tensor.shape, tensor.strides);
      tensor.data = storage.bytes.subarray(offset * size, (offset + elements) * size);
    }
  }
}

async function readCheckpoint(zip: ZipReader, budget: ByteBudget): Promise<Value> {
  const pickleName = [...zip.entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickleName === undefined) throw new Error('not a PyTorch checkpoint (the archive has no data.pkl)');
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(await readEntry(zip, `${prefix}byteorder`, budget));
    if (order !== 'little') throw new Error(`byte order "${order}" is not supported`);
  }
  const pickle = await readEntry(zip, pickleName, budget);
  const records = new TensorRecords(zip, `${prefix}data/`, budget);
  // charged at every opcode: the label is made once, not per call
  const objects = `the objects of ${pickleName}`;
  const result = unpickle(pickle, {
    findGlobal: (module, name) => resolveGlobal(module, name, records),
    persistentLoad: (pid) => records.storage(pid),
    allocate: (bytes) => budget.charge(bytes, objects),
  });
  checkValue(result, TREE_SIZE_ALLOWANCE + pickle.length);
  await records.materialise();
  return result;
}

function resolveGlobal(module: string, name: string, records: TensorRecords): unknown {
  const qualified = `${module}.${name}`;
  if (!ALLOWED_GLOBALS.includes(qualified)) {
    throw new Error(`refusing global ${qualified} (a checkpoint may only hold tensors and plain data)`);
  }
  if (qualified === 'collections.OrderedDict') {
    return new PyCallable(qualified, (args) => {
      if (args.length > 0) throw new Error('unsupported OrderedDict arguments');
      return {};
    });
  }
  if (qualified === 'torch._utils._rebuild_tensor_v2') return new PyCallable(qualified, (args) => records.rebuild(args));
  if (qualified === 'torch._utils._rebuild_parameter') {
    return new PyCallable(qualified, ([data]) => {
      if (!isTensorData(data)) throw new Error(`${qualified} expects a tensor`);
      return data;
    });
  }
  return new PyGlobal(module, name);
}

function isIndexList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && v >= 0);
}

/** Python's default recursion limit: torch.save itself cannot pickle data nested deeper. */
const MAX_DEPTH = 1000;

/**
 * How many values, beyond one per byte of pickle, a checkpoint may expand to
 * when every shared object is counted wherever it appears. A pickle without
 * sharing has fewer values than bytes; this leaves ample room for the
 * sharing real checkpoints do, while a few hundred bytes that share one list
 * 2^40 ways are refused.
 */
const TREE_SIZE_ALLOWANCE = 1_000_000;

/**
 * Throws unless the unpickled object is made only of Values (no bare storages
 * or globals), contains no cycle, nests at most MAX_DEPTH levels, and has at
 * most `maxTreeSize` values when shared objects are counted at every place
 * they appear. Visits each object once, so it runs in time linear in the pickle.
 */
function checkValue(root: unknown, maxTreeSize: number): asserts root is Value {
  const treeSizes = new Map<object, number>();
  const onPath = new Set<object>();
  const visit = (value: unknown, depth: number): number => {
    if (value === null || ['boolean', 'number', 'bigint', 'string'].includes(typeof value) || isTensorData(value)) {
      return 1;
    }
    if (typeof value !== 'object' || !(Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
      const what = value instanceof Storage ? 'bare storage' : describe(value);
      throw new Error(`the checkpoint holds a ${what}, which patho cannot represent`);
    }
    const known = treeSizes.get(value);
    if (known !== undefined) return known;
    if (onPath.has(value)) throw new Error(`the checkpoint holds a ${describe(value)} that contains itself`);
    if (depth >= MAX_DEPTH) throw new Error(`the checkpoint's data nests deeper than ${MAX_DEPTH} levels`);
    onPath.add(value);
    let size = 1;
    for (const item of Object.values(value)) {
      size += visit(item, depth + 1);
      if (size > maxTreeSize) {
        throw new Error(
          `the checkpoint's data expands to more than ${maxTreeSize} values (an object shared so many times ` +
            'that reading it as a tree would not end)',
        );
      }
    }
    onPath.delete(value);
    treeSizes.set(value, size);
    return size;
  };
  visit(root, 0);
}
