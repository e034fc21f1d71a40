/**
 * Reference numbers from PyTorch (tools/make_fixtures.py), compared with the
 * suite's one rule (test/close.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { loadSafetensors } from '../../src/io/safetensors.js';
import { fromBytes, keep, Tensor, type DType } from '../../src/tensor/index.js';
import { assertCloseValues, UNIT_ROUNDOFF, type Difference, type Precision, type Reporter } from '../close.js';

/** Tests run from dist/test/<dir>/, so fixtures are found from the repository root. */
export const ENGINE_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/engine/', import.meta.url));

/** What tools/make_fixtures.py wrote: op names and options in the TypeScript API's spelling. */
export const manifest = JSON.parse(readFileSync(`${ENGINE_FIXTURES}manifest.json`, 'utf8')) as {
  torch: string;
  ops: OpCase[];
  optim: { keys: string[]; steps: number; runs: { name: string; options: Record<string, unknown> & { kind: string } }[] };
  unet: { cases: UNetCase[] };
  unetTrain: { options: Record<string, unknown>; optimizer: { lr: number; momentum: number }; steps: number; keys: string[] };
};

export interface OpCase {
  name: string;
  op: string;
  args: Record<string, unknown>;
  /** Input keys in argument order; the tensors are `<name>.in.<key>`. */
  inputs: string[];
  /** Inputs with a reference gradient `<name>.grad.<key>` of sum(out * `<name>.upstream`). */
  grads: string[];
  /** Inputs the op updates in place, with their values afterwards under `<name>.after.<key>`. */
  after: string[];
}

export interface UNetCase {
  name: string;
  options: Record<string, unknown>;
  input: string;
  upstream: string;
  eval: boolean;
}

/**
 * Every tensor of a fixture file as a live Tensor, kept out of tidy scopes
 * (fixtures live as long as the test process).
 */
export async function loadFixture(file: string): Promise<Map<string, Tensor>> {
  const { tensors } = await loadSafetensors(`${ENGINE_FIXTURES}${file}`);
  const out = new Map<string, Tensor>();
  for (const [key, t] of Object.entries(tensors)) out.set(key, keep(fromBytes(t.data, t.dtype as DType, t.shape)));
  return out;
}

/** The fixture tensors under `prefix`, with the prefix removed (a state dict from "init.*"). */
export function withPrefix(tensors: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, t] of tensors) if (key.startsWith(prefix)) out.set(key.slice(prefix.length), t);
  return out;
}

export function get(tensors: Map<string, Tensor>, key: string): Tensor {
  const t = tensors.get(key);
  if (t === undefined) throw new Error(`fixture has no tensor ${key}`);
  return t;
}

/**
 * Asserts equal shapes and values within the suite's rounding bound (see
 * test/close.ts) for K = `terms`, the precision being the actual tensor's
 * dtype unless given; integers and booleans must be equal. Reports the largest
 * difference either way.
 */
export function assertClose(
  t: Reporter,
  label: string,
  actual: Tensor,
  expected: Tensor,
  terms: number,
  { precision = actual.dtype as Precision, scale }: { precision?: Precision; scale?: number } = {},
): Difference {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: shape [${actual.shape}] vs PyTorch [${expected.shape}]`);
  const a = actual.toArray();
  const e = expected.toArray();
  if (!(e instanceof Float32Array || e instanceof Float64Array)) {
    assert.deepEqual(Array.from(a as ArrayLike<number | bigint>), Array.from(e as ArrayLike<number | bigint>), `${label}: values differ`);
    t.diagnostic(`${label}: exact`);
    return { abs: 0, scale: 0, bound: 0, ratio: 0, at: -1 };
  }
  assert.ok(precision in UNIT_ROUNDOFF, `${label}: no rounding rule for ${precision}`);
  return assertCloseValues(t, label, a as Float32Array | Float64Array, e, { precision, terms, scale });
}
