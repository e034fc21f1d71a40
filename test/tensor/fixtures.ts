/**
 * Reference numbers from PyTorch (tools/make_fixtures.py) and the comparison
 * the parity tests share: |actual - expected| <= tolerance * max(1, |expected|).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { loadSafetensors } from '../../src/io/safetensors.js';
import { fromBytes, keep, Tensor, type DType } from '../../src/tensor/index.js';

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

export interface Difference {
  /** Largest |actual - expected|. */
  abs: number;
  /** Largest |actual - expected| / max(1, |expected|), what the tolerance bounds. */
  scaled: number;
  /** Flat index of the element with the largest scaled difference. */
  at: number;
}

export function difference(actual: ArrayLike<number>, expected: ArrayLike<number>): Difference {
  let abs = 0;
  let scaled = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const s = d / Math.max(1, Math.abs(expected[i]));
    if (!(s <= scaled)) {
      scaled = s;
      at = i;
    }
    abs = Math.max(abs, d);
  }
  return { abs, scaled, at };
}

/** Where the differences of one test are reported. */
export interface Reporter {
  diagnostic(message: string): void;
}

/**
 * Asserts equal shapes and values within `tolerance` (scaled as above), and
 * reports the largest difference whether it passes or not.
 */
export function assertClose(t: Reporter, label: string, actual: Tensor, expected: Tensor, tolerance = 1e-4): Difference {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: shape [${actual.shape}] vs PyTorch [${expected.shape}]`);
  const a = actual.toArray();
  const e = expected.toArray();
  if (!(e instanceof Float32Array || e instanceof Float64Array)) {
    // integers and booleans are exact
    assert.deepEqual(Array.from(a as ArrayLike<number | bigint>), Array.from(e as ArrayLike<number | bigint>), `${label}: values differ`);
    t.diagnostic(`${label}: exact`);
    return { abs: 0, scaled: 0, at: -1 };
  }
  const d = difference(a as Float32Array, e);
  t.diagnostic(`${label}: max |diff| ${d.abs.toExponential(2)}, scaled ${d.scaled.toExponential(2)}`);
  assert.ok(
    d.scaled <= tolerance,
    `${label}: largest difference ${d.abs.toExponential(3)} (scaled ${d.scaled.toExponential(3)} > ${tolerance}) at flat index ${d.at}: ` +
      `got ${a[d.at]}, PyTorch ${e[d.at]}`,
  );
  return d;
}
