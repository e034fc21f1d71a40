/**
 * Python pickles, in the two shapes checkpoints need: a protocol-2 writer (the
 * protocol torch.save uses) and a restricted reader. The reader only builds
 * data: every global goes through a caller-supplied allow-list, and a global
 * can only be called if the allow-list returned a PyCallable for it, so
 * unpickling never runs code from the file.
 */

import { isTensorData, PyFloat, type TensorData, type Value } from './value.js';

const op = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  BINFLOAT: 0x47, // G
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_TUPLE: 0x29, // )
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** Python pickles items of lists and dicts in batches of this many. */
const BATCH = 1000;

/** A global the allow-list lets the unpickler call (REDUCE, NEWOBJ). */
export class PyCallable {
  constructor(
    /** "module.name", for error messages. */
    readonly qualifiedName: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
}

/** A global the allow-list admits as data only (for example a storage type). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

/** Keys written as Python ints, so integer-keyed dicts (optimizer state) survive a round trip. */
const INTEGER_KEY = /^(0|-?[1-9][0-9]*)$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !isTensorData(value)
  );
}

/**
 * Writes a protocol-2 pickle of a Value. Tensors are handed to `writeTensor`,
 * which uses the low-level methods to emit whatever reconstructs them.
 */
export class Pickler {
  private buffer = new Uint8Array(1024);
  private length = 0;
  private readonly memo = new Map<string, number>();
  private readonly ancestors = new Set<object>();

  constructor(private readonly writeTensor: (tensor: TensorData, pickler: Pickler) => void) {
    this.bytes([op.PROTO, 2]);
  }

  /** Pickles `value`: objects become dicts (canonical integer keys become ints), arrays become lists. */
  dump(value: Value): void {
    if (value === null) this.bytes([op.NONE]);
    else if (typeof value === 'boolean') this.bytes([value ? op.NEWTRUE : op.NEWFALSE]);
    else if (typeof value === 'number') {
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) this.int(value);
      else this.float(value);
    } else if (typeof value === 'bigint') this.int(value);
    else if (typeof value === 'string') this.str(value);
    else if (value instanceof PyFloat) this.float(value.value);
    else if (isTensorData(value)) this.writeTensor(value, this);
    else if (Array.isArray(value)) this.container(value, () => this.list(value));
    else if (isPlainObject(value)) this.container(value, () => this.dict(value as Record<string, Value>));
    else throw new Error(`cannot serialise ${describe(value)}`);
  }

  private container(value: object, write: () => void): void {
    if (this.ancestors.has(value)) throw new Error('cannot serialise a value that contains itself');
    this.ancestors.add(value);
    write();
    this.ancestors.delete(value);
  }

  private list(items: Value[]): void {
    this.bytes([op.EMPTY_LIST]);
    for (let start = 0; start < items.length; start += BATCH) {
      this.mark();
      for (const item of items.slice(start, start + BATCH)) this.dump(item);
      this.bytes([op.APPENDS]);
    }
  }

  private dict(object: Record<string, Value>): void {
    this.bytes([op.EMPTY_DICT]);
    const keys = Object.keys(object);
    for (let start = 0; start < keys.length; start += BATCH) {
      this.mark();
      for (const key of keys.slice(start, start + BATCH)) {
        const asInt = INTEGER_KEY.test(key) ? Number(key) : NaN;
        if (Number.isSafeInteger(asInt)) this.int(asInt);
        else this.str(key);
        this.dump(object[key]);
      }
      this.bytes([op.SETITEMS]);
    }
  }

  /** Pushes a Python int, in the shortest encoding. */
  int(value: number | bigint): void {
    const n = BigInt(value);
    if (n >= 0n && n < 256n) this.bytes([op.BININT1, Number(n)]);
    else if (n >= 0n && n < 65536n) this.bytes([op.BININT2, Number(n) & 0xff, Number(n) >> 8]);
    else if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      this.bytes([op.BININT]);
      this.raw(4, (view) => view.setInt32(0, Number(n), true));
    } else {
      const encoded = encodeLong(n);
      this.bytes([op.LONG1, encoded.length]);
      this.append(encoded);
    }
  }

  /** Pushes a Python float. */
  float(value: number): void {
    this.bytes([op.BINFLOAT]);
    this.raw(8, (view) => view.setFloat64(0, value, false));
  }

  /** Pushes a Python str; repeated strings are fetched from the memo. */
  str(value: string): void {
    this.memoized(`s${value}`, () => {
      const utf8 = new TextEncoder().encode(value);
      this.bytes([op.BINUNICODE]);
      this.raw(4, (view) => view.setUint32(0, utf8.length, true));
      this.append(utf8);
    });
  }

  /** Pushes the global `module.name` (by reference, never by value). */
  global(module: string, name: string): void {
    this.memoized(`g${module} ${name}`, () => {
      this.bytes([op.GLOBAL]);
      this.append(new TextEncoder().encode(`${module}\n${name}\n`));
    });
  }

  /** Pushes a tuple of `count` items that `writeItems` pushes. */
  tuple(count: number, writeItems: () => void): void {
    if (count === 0) return this.bytes([op.EMPTY_TUPLE]);
    if (count > 3) this.mark();
    writeItems();
    this.bytes([count > 3 ? op.TUPLE : [op.TUPLE1, op.TUPLE2, op.TUPLE3][count - 1]]);
  }

  /** Pushes a MARK. */
  mark(): void {
    this.bytes([op.MARK]);
  }

  /** Calls the callable below the top of the stack with the argument tuple on top. */
  reduce(): void {
    this.bytes([op.REDUCE]);
  }

  /** Replaces the top of the stack by the object its persistent id names. */
  persistentId(): void {
    this.bytes([op.BINPERSID]);
  }

  /** The finished pickle, STOP included. */
  finish(): Uint8Array {
    this.bytes([op.STOP]);
    return this.buffer.slice(0, this.length);
  }

  private memoized(key: string, write: () => void): void {
    const index = this.memo.get(key);
    if (index !== undefined) {
      if (index < 256) this.bytes([op.BINGET, index]);
      else {
        this.bytes([op.LONG_BINGET]);
        this.raw(4, (view) => view.setUint32(0, index, true));
      }
      return;
    }
    write();
    const next = this.memo.size;
    this.memo.set(key, next);
    if (next < 256) this.bytes([op.BINPUT, next]);
    else {
      this.bytes([op.LONG_BINPUT]);
      this.raw(4, (view) => view.setUint32(0, next, true));
    }
  }

  private bytes(values: number[]): void {
    this.append(Uint8Array.from(values));
  }

  private raw(size: number, write: (view: DataView) => void): void {
    const chunk = new Uint8Array(size);
    write(new DataView(chunk.buffer));
    this.append(chunk);
  }

  private append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + chunk.length));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }
}

/** Two's-complement little-endian bytes of `n`, as short as possible (Python's encode_long). */
function encodeLong(n: bigint): Uint8Array {
  const bytes: number[] = [];
  let rest = n;
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.push(byte);
    rest >>= 8n;
    if ((rest === 0n && byte < 0x80) || (rest === -1n && byte >= 0x80)) break;
  }
  return Uint8Array.from(bytes);
}

/**
 * Python's decode_long: two's-complement little-endian bytes to an int. Goes
 * through one hex string, so a LONG4 of megabytes decodes in linear time (a
 * shift-and-or per byte would copy the growing bigint each time: quadratic).
 */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  // a copy (new Uint8Array, not slice: a Buffer's slice is a view) reversed in place
  const bigEndian = new Uint8Array(bytes).reverse();
  let n = BigInt(`0x${Buffer.from(bigEndian.buffer, 0, bigEndian.length).toString('hex')}`);
  if (bytes[bytes.length - 1] >= 0x80) n -= 1n << BigInt(8 * bytes.length);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** What the unpickler asks its caller for. */
export interface UnpickleHooks {
  /** Resolves GLOBAL/STACK_GLOBAL; throws to refuse. Return a PyCallable to allow calling it. */
  findGlobal(module: string, name: string): unknown;
  /** Resolves a persistent id (BINPERSID), for example a tensor storage. */
  persistentLoad(pid: unknown): unknown;
  /**
   * Told, before each opcode runs, the heap bytes it may cost; throws to stop
   * unpickling. A one-byte opcode can make an empty list, so a pickle can
   * cost some 60 times its size; this lets the caller hold that to a budget.
   */
  allocate?(bytes: number): void;
}

/** Heap bytes of a new list, dict, tuple or memo entry (V8 spends 43 on an empty array, 66 on an empty object). */
const OBJECT_BYTES = 64;
/** Heap bytes of any other opcode: at most one more stack slot. */
const SLOT_BYTES = 8;

const MAKES_OBJECT: ReadonlySet<number> = new Set([
  op.MARK,
  op.EMPTY_LIST,
  op.EMPTY_TUPLE,
  op.EMPTY_DICT,
  op.TUPLE,
  op.TUPLE1,
  op.TUPLE2,
  op.TUPLE3,
  op.REDUCE,
  op.NEWOBJ,
  op.BINPERSID,
  op.BINPUT,
  op.LONG_BINPUT,
  op.MEMOIZE,
]);

/** Short description of an unpickled object, for error messages. */
export function describe(value: unknown): string {
  if (value instanceof PyCallable) return `global ${value.qualifiedName}`;
  if (value instanceof PyGlobal) return `global ${value.module}.${value.name}`;
  if (Array.isArray(value)) return 'tuple or list';
  if (value === null) return 'None';
  if (isTensorData(value)) return 'tensor';
  if (isPlainObject(value)) return 'dict';
  return typeof value;
}

function setItem(target: unknown, key: unknown, value: unknown): void {
  if (!isPlainObject(target)) throw new Error(`cannot set an item on ${describe(target)}`);
  let name: string;
  if (typeof key === 'string') name = key;
  else if (typeof key === 'number' || typeof key === 'bigint') name = String(key);
  else throw new Error(`dict keys of type ${describe(key)} are not supported`);
  // defineProperty, not assignment, so a key named "__proto__" stays a plain key.
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Unpickles `bytes` (protocols 2 to 5, the opcodes that torch.save and
 * Python's pickler emit for plain data). Dicts become objects with string
 * keys (int keys stringified); tuples and lists become arrays; ints beyond
 * the safe-integer range become bigints. A BUILD on a dict (Python attributes
 * such as a state dict's `_metadata`) is accepted and its state dropped.
 */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): number => {
    if (pos + n > bytes.length) throw new Error('pickle data ends early (truncated)');
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => {
    const n = view.getBigUint64(need(8), true);
    if (n > BigInt(bytes.length)) throw new Error('pickle data ends early (truncated)');
    return Number(n);
  };
  const text = (n: number) => {
    const utf8 = bytes.subarray(need(n), pos);
    try {
      return decoder.decode(utf8);
    } catch {
      throw new Error(`corrupt pickle (a string before byte ${pos} is not valid UTF-8)`);
    }
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new Error('pickle data ends early (truncated)');
    return text(end - pos + 1).slice(0, -1);
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw new Error('corrupt pickle (stack underflow)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new Error('corrupt pickle (stack underflow)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const outer = metastack.pop();
    if (outer === undefined) throw new Error('corrupt pickle (missing MARK)');
    stack = outer;
    return items;
  };
  const get = (index: number) => {
    if (!memo.has(index)) throw new Error(`corrupt pickle (memo ${index} missing)`);
    stack.push(memo.get(index));
  };
  const put = (index: number) => memo.set(index, top());
  const call = (callable: unknown, args: unknown) => {
    if (!(callable instanceof PyCallable)) throw new Error(`refusing to call ${describe(callable)}`);
    if (!Array.isArray(args)) throw new Error(`corrupt pickle (arguments of ${callable.qualifiedName} are not a tuple)`);
    stack.push(callable.call(args));
  };
  const append = (items: unknown[]) => {
    const list = top();
    if (!Array.isArray(list)) throw new Error(`cannot append to ${describe(list)}`);
    // A loop, not push(...items): spreading a long MARK group overflows the call stack.
    for (const item of items) list.push(item);
  };
  const setItems = (items: unknown[]) => {
    const dict = top();
    for (let i = 0; i + 1 < items.length; i += 2) setItem(dict, items[i], items[i + 1]);
  };

  for (;;) {
    const at = pos;
    const code = u8();
    hooks.allocate?.(MAKES_OBJECT.has(code) ? OBJECT_BYTES : SLOT_BYTES);
    switch (code) {
      case op.PROTO:
        if (u8() > 5) throw new Error('unsupported pickle protocol');
        break;
      case op.FRAME:
        u64();
        break;
      case op.STOP:
        return pop();
      case op.MARK:
        metastack.push(stack);
        stack = [];
        break;
      case op.POP:
        pop();
        break;
      case op.POP_MARK:
        popMark();
        break;
      case op.NONE:
        stack.push(null);
        break;
      case op.NEWTRUE:
        stack.push(true);
        break;
      case op.NEWFALSE:
        stack.push(false);
        break;
      case op.BININT:
        stack.push(view.getInt32(need(4), true));
        break;
      case op.BININT1:
        stack.push(u8());
        break;
      case op.BININT2:
        stack.push(u16());
        break;
      case op.LONG1:
        stack.push(decodeLong(bytes.subarray(need(u8()), pos)));
        break;
      case op.LONG4:
        stack.push(decodeLong(bytes.subarray(need(u32()), pos)));
        break;
      case op.BINFLOAT:
        stack.push(view.getFloat64(need(8), false));
        break;
      case op.SHORT_BINUNICODE:
        stack.push(text(u8()));
        break;
      case op.BINUNICODE:
        stack.push(text(u32()));
        break;
      case op.BINUNICODE8:
        stack.push(text(u64()));
        break;
      case op.EMPTY_LIST:
        stack.push([]);
        break;
      case op.EMPTY_TUPLE:
        stack.push([]);
        break;
      case op.EMPTY_DICT:
        stack.push({});
        break;
      case op.TUPLE: {
        // popMark swaps `stack`, so it must run before `stack.push` is looked up.
        const items = popMark();
        stack.push(items);
        break;
      }
      case op.TUPLE1:
      case op.TUPLE2:
      case op.TUPLE3: {
        const count = code - op.TUPLE1 + 1;
        if (stack.length < count) throw new Error('corrupt pickle (stack underflow)');
        stack.push(stack.splice(stack.length - count, count));
        break;
      }
      case op.APPEND:
        append([pop()]);
        break;
      case op.APPENDS:
        append(popMark());
        break;
      case op.SETITEM: {
        const value = pop();
        const key = pop();
        setItem(top(), key, value);
        break;
      }
      case op.SETITEMS:
        setItems(popMark());
        break;
      case op.BINPUT:
        put(u8());
        break;
      case op.LONG_BINPUT:
        put(u32());
        break;
      case op.MEMOIZE:
        put(memo.size);
        break;
      case op.BINGET:
        get(u8());
        break;
      case op.LONG_BINGET:
        get(u32());
        break;
      case op.GLOBAL: {
        const module = line();
        stack.push(hooks.findGlobal(module, line()));
        break;
      }
      case op.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new Error('corrupt pickle (STACK_GLOBAL needs two strings)');
        }
        stack.push(hooks.findGlobal(module, name));
        break;
      }
      case op.REDUCE: {
        const args = pop();
        call(pop(), args);
        break;
      }
      case op.NEWOBJ: {
        const args = pop();
        call(pop(), args);
        break;
      }
      case op.BUILD: {
        pop();
        const target = top();
        if (!isPlainObject(target)) throw new Error(`refusing to set the state of ${describe(target)}`);
        break;
      }
      case op.BINPERSID:
        stack.push(hooks.persistentLoad(pop()));
        break;
      default:
        throw new Error(`unsupported pickle opcode 0x${code.toString(16).padStart(2, '0')} at byte ${at}`);
    }
  }
}
