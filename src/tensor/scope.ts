/**
 * Deterministic lifetimes for native tensors, as in TensorFlow.js: `tidy(fn)`
 * disposes every tensor made inside `fn` except what `fn` returns or what was
 * `keep()`-ed. The addon's finalizers are only a backstop.
 */

/** Anything that owns native memory and can be disposed. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

/** Called by every tensor constructor. */
export function track(item: Disposable): void {
  const scope = scopes[scopes.length - 1];
  if (scope !== undefined && !kept.has(item)) scope.add(item);
}

/** Exempts `item` from disposal by the enclosing (and every outer) tidy scope. */
export function keep<T extends Disposable>(item: T): T {
  kept.add(item);
  for (const scope of scopes) scope.delete(item);
  return item;
}

/**
 * Runs `fn` and disposes the tensors it created, except those reachable from its
 * result (a tensor, or arrays/plain objects of tensors) and kept ones; returned
 * tensors move to the enclosing scope. `fn` must be synchronous: a scope cannot
 * follow an await.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (error) {
    // a failed step must not leak what it made before failing
    for (const item of scope) item.dispose();
    throw error;
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new Error('tidy(fn): fn returned a Promise; tidy only tracks synchronous code');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const item of scope) {
    if (survivors.has(item)) parent?.add(item);
    else item.dispose();
  }
  return result;
}

/** Disposes every tensor in a (nested) structure of tensors, arrays and plain objects. */
export function dispose(value: unknown): void {
  const found = new Set<Disposable>();
  collect(value, found);
  for (const item of found) item.dispose();
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (isDisposable(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collect(item, out, depth + 1);
  } else if (value instanceof Map) {
    for (const item of value.values()) collect(item, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collect(item, out, depth + 1);
  }
}

function isDisposable(value: object): value is Disposable {
  return typeof (value as Disposable).dispose === 'function' && 'isDisposed' in value;
}
