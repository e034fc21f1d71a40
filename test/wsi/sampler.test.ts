/**
 * Patch centres drawn from annotated regions: balanced over classes, then
 * over the slides that have a class, then by area; always inside the
 * region; a function of (seed, epoch, index) only. Proportions are checked
 * within 5 binomial standard deviations of 20 000 seeded draws (deterministic,
 * so the test cannot flake; a sampler that ignored the balance would be off
 * by dozens of deviations).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseAnnotations, type Annotation } from '../../src/wsi/annotations.js';
import { containsPoint } from '../../src/wsi/rasterize.js';
import { BalancedPatchSampler, type SamplingRegion } from '../../src/wsi/sampler.js';

const square = (x: number, y: number, s: number) => [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]];

function annotation(coordinates: number[][][], index = 0): Annotation {
  const parsed = parseAnnotations(JSON.stringify([{ type: 'Feature', geometry: { type: 'Polygon', coordinates }, properties: { classification: { name: 'x' } } }]), 't');
  return { ...parsed.annotations[0], index };
}

const DRAWS = 20_000;

function shares<K>(keys: K[]): Map<K, number> {
  const counts = new Map<K, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return new Map([...counts].map(([k, n]) => [k, n / keys.length]));
}

function near(actual: number | undefined, p: number, n: number, what: string): void {
  const sigma = Math.sqrt((p * (1 - p)) / n);
  assert.ok(actual !== undefined && Math.abs(actual - p) <= 5 * sigma, `${what}: ${actual}, expected ${p} +- ${(5 * sigma).toFixed(4)}`);
}

test('classes are drawn equally often, then slides, however unequal the areas', () => {
  const regions: SamplingRegion[] = [
    { slide: 0, label: 1, annotation: annotation([square(0, 0, 1000)]) }, // one huge tumour region
    { slide: 0, label: 2, annotation: annotation([square(2000, 0, 10)]) },
    { slide: 1, label: 1, annotation: annotation([square(0, 0, 20)]) },
    { slide: 2, label: 1, annotation: annotation([square(0, 0, 30)]) },
  ];
  const sampler = new BalancedPatchSampler(regions);
  const draws = Array.from({ length: DRAWS }, (_, i) => sampler.draw(5, 0, i));
  const byLabel = shares(draws.map((d) => d.label));
  near(byLabel.get(1), 0.5, DRAWS, 'class 1');
  near(byLabel.get(2), 0.5, DRAWS, 'class 2');
  const tumour = draws.filter((d) => d.label === 1);
  const bySlide = shares(tumour.map((d) => d.slide));
  for (const slide of [0, 1, 2]) near(bySlide.get(slide), 1 / 3, tumour.length, `slide ${slide} among class 1`);
  for (const d of draws) {
    const region = regions.find((r) => r.slide === d.slide && r.label === d.label)!;
    assert.ok(containsPoint(region.annotation.polygons[0], d.x, d.y), `(${d.x}, ${d.y}) inside its region`);
  }
});

test('within a slide and class, regions by area; points uniform inside, never in a hole', () => {
  const small = annotation([square(0, 0, 10)], 0); // area 100
  const ring = annotation([square(100, 0, 20), square(105, 5, 10)], 1); // area 400 - 100 = 300
  const sampler = new BalancedPatchSampler([
    { slide: 0, label: 1, annotation: small },
    { slide: 0, label: 1, annotation: ring },
  ]);
  const draws = Array.from({ length: DRAWS }, (_, i) => sampler.draw(1, 3, i));
  const inRing = draws.filter((d) => d.x >= 100);
  near(inRing.length / DRAWS, 0.75, DRAWS, 'share of the larger region');
  assert.ok(inRing.every((d) => !(d.x > 105 && d.x < 115 && d.y > 5 && d.y < 15)), 'no centre in the hole');
  // the ring's left strip (x < 105) is 5 x 20 = 100 of its 300 pixels
  near(inRing.filter((d) => d.x < 105).length / inRing.length, 1 / 3, inRing.length, 'left strip of the ring');
});

test('a draw depends on seed, epoch and index only', () => {
  const regions: SamplingRegion[] = [
    { slide: 0, label: 1, annotation: annotation([square(0, 0, 100)]) },
    { slide: 1, label: 2, annotation: annotation([square(0, 0, 100)]) },
  ];
  const a = new BalancedPatchSampler(regions);
  const b = new BalancedPatchSampler([...regions].reverse());
  for (let i = 0; i < 50; i++) assert.deepEqual(a.draw(2, 1, i), b.draw(2, 1, i));
  assert.notDeepEqual(a.draw(2, 1, 0), a.draw(2, 2, 0));
  assert.notDeepEqual(a.draw(2, 1, 0), a.draw(3, 1, 0));
  assert.notDeepEqual(a.draw(2, 1, 0), a.draw(2, 1, 1));
  assert.deepEqual(a.labels, [1, 2]);
  assert.throws(() => new BalancedPatchSampler([]), /no annotated region/);
});
