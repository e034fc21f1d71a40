/**
 * Learning-rate schedules against torch.optim.lr_scheduler over 12 epochs
 * (rates recorded by tools/make_fixtures.py), and their saved state.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CosineAnnealingLR, PolynomialLR, ReduceLROnPlateau, StepLR } from '../../src/optim/index.js';
import { assertCloseValues } from '../close.js';
import { manifest } from '../tensor/fixtures.js';

interface SchedulerCase {
  name: string;
  baseLr: number;
  options: Record<string, number>;
  rates: number[];
  metrics?: number[];
}
const cases = (manifest as unknown as { schedulers: SchedulerCase[] }).schedulers;
const byName = (name: string) => cases.find((c) => c.name === name)!;

/** Our scheduler for a case, stepping the way torch's does (ReduceLROnPlateau takes the epoch's metric). */
function schedule(c: SchedulerCase, epochs = c.rates.length): number[] {
  const optimizer = { lr: c.baseLr };
  const o = c.options;
  const step = {
    StepLR: () => new StepLR(optimizer, o.stepSize, o.gamma),
    CosineAnnealingLR: () => new CosineAnnealingLR(optimizer, o.tMax, o.etaMin),
    PolynomialLR: () => new PolynomialLR(optimizer, o.totalIters, o.power),
    ReduceLROnPlateau: () => new ReduceLROnPlateau(optimizer, o),
  }[c.name]!();
  const rates: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    if (step instanceof ReduceLROnPlateau) step.step(c.metrics![epoch]);
    else step.step();
    rates.push(optimizer.lr);
  }
  return rates;
}

function assertRates(t: { diagnostic(m: string): void }, got: number[], expected: number[], baseLr: number): void {
  // Both sides compute in float64, one update per epoch, from terms the size of
  // the base rate: a rate near zero (a cosine past its minimum) carries their rounding.
  t.diagnostic(`rates ${got.map((r) => r.toPrecision(4)).join(' ')}`);
  assertCloseValues(t, 'rates', got, expected, { precision: 'float64', terms: got.length, scale: baseLr });
}

for (const name of ['StepLR', 'PolynomialLR', 'ReduceLROnPlateau']) {
  test(`${name} gives torch's rates over 12 epochs`, (t) => assertRates(t, schedule(byName(name)), byName(name).rates, byName(name).baseLr));
}

test('CosineAnnealingLR (tMax 8) gives torch\'s rates up to tMax', (t) => {
  const c = byName('CosineAnnealingLR');
  assertRates(t, schedule(c, c.options.tMax), c.rates.slice(0, c.options.tMax), c.baseLr);
});

test('CosineAnnealingLR (tMax 8) past tMax follows torch, whose cosine rises again', (t) => {
  const c = byName('CosineAnnealingLR');
  assertRates(t, schedule(c).slice(c.options.tMax), c.rates.slice(c.options.tMax), c.baseLr);
});

test('a scheduler restored from stateDict() continues with the same rates (StepLR, 5 + 7 epochs)', () => {
  const c = byName('StepLR');
  const first = { lr: c.baseLr };
  const a = new StepLR(first, c.options.stepSize, c.options.gamma);
  for (let i = 0; i < 5; i++) a.step();
  const second = { lr: 123 };
  const b = new StepLR(second, c.options.stepSize, c.options.gamma);
  b.loadStateDict(a.stateDict());
  const rest: number[] = [];
  for (let i = 0; i < 7; i++) {
    b.step();
    rest.push(second.lr);
  }
  assert.deepEqual(rest, c.rates.slice(5));
});
