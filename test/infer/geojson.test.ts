/** Contour tracing and GeoJSON on masks whose polygons are known. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { signedArea, traceRegions } from '../../src/wsi/contours.js';
import { maskToGeoJson } from '../../src/wsi/geojson.js';

function draw(width: number, height: number, rects: [number, number, number, number, number][]): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (const [x0, y0, x1, y1, v] of rects) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * width + x] = v;
  return mask;
}

/** Even-odd point-in-polygon over all rings. */
function inside(rings: [number, number][][], px: number, py: number): boolean {
  let odd = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) odd = !odd;
    }
  }
  return odd;
}

test('a 6x6 square with a 2x2 hole: one polygon, outer counter-clockwise, hole clockwise, exact corners', () => {
  const mask = draw(10, 9, [[2, 1, 8, 7, 1], [4, 3, 6, 5, 0]]);
  const regions = traceRegions(mask, 10, 9);
  assert.equal(regions.length, 1);
  assert.deepEqual(regions[0].outer, [[2, 1], [8, 1], [8, 7], [2, 7], [2, 1]]);
  assert.equal(regions[0].holes.length, 1);
  assert.deepEqual(new Set(regions[0].holes[0].map(String)), new Set(['4,3', '6,3', '6,5', '4,5']));
  assert.equal(signedArea(regions[0].outer), 36);
  assert.equal(signedArea(regions[0].holes[0]), -4);
  assert.equal(regions[0].pixels, 32);
});

test('GeoJSON of a square with a hole and an island inside the hole: valid, scaled to level 0, areas in um^2', () => {
  const mask = draw(12, 12, [[1, 1, 11, 11, 1], [3, 3, 9, 9, 0], [5, 5, 7, 7, 1]]);
  const fc = maskToGeoJson(mask, 12, 12, { scale: 4, offset: [100, 200], mpp: { x: 0.5, y: 0.25 } });
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, 2);
  const [ring, island] = fc.features;
  assert.equal(ring.geometry.type, 'Polygon');
  assert.equal(ring.geometry.coordinates.length, 2);
  for (const feature of fc.features) {
    for (const r of feature.geometry.coordinates) {
      assert.ok(r.length >= 4, 'a linear ring has at least 4 positions');
      assert.deepEqual(r[0], r[r.length - 1], 'rings are closed');
    }
    assert.ok(signedArea(feature.geometry.coordinates[0]) > 0);
    for (const hole of feature.geometry.coordinates.slice(1)) assert.ok(signedArea(hole) < 0);
    assert.equal(feature.properties.objectType, 'annotation');
    assert.equal(feature.properties.classification.name, 'foreground');
  }
  assert.equal(ring.properties.area_px, (100 - 36) * 16);
  assert.equal(ring.properties.area_um2, (100 - 36) * 16 * 0.125);
  assert.equal(island.properties.area_px, 4 * 16);
  // every mask pixel's centre is inside exactly the polygons of its value
  for (let y = 0; y < 12; y++) {
    for (let x = 0; x < 12; x++) {
      const px = 100 + (x + 0.5) * 4, py = 200 + (y + 0.5) * 4;
      const hits = fc.features.filter((f) => inside(f.geometry.coordinates, px, py)).length;
      assert.equal(hits, mask[y * 12 + x], `pixel (${x}, ${y})`);
    }
  }
  JSON.parse(JSON.stringify(fc));
});

test('pixels touching only at a corner are separate regions; several classes get their own names', () => {
  const diagonal = draw(4, 4, [[0, 0, 1, 1, 1], [1, 1, 2, 2, 1]]);
  assert.equal(traceRegions(diagonal, 4, 4).length, 2);
  const classes = maskToGeoJson(draw(6, 3, [[0, 0, 2, 3, 1], [3, 0, 6, 3, 2]]), 6, 3);
  assert.deepEqual(classes.features.map((f) => f.properties.classification.name), ['class 1', 'class 2']);
  assert.equal(classes.features[1].properties.area_um2, undefined);
  assert.deepEqual(classes.features[1].properties.measurements, { 'Area px^2': 9 });
});

test('training class names and colours, detections, and areas in the measurements QuPath keeps', () => {
  const fc = maskToGeoJson(draw(6, 3, [[0, 0, 2, 3, 1], [3, 0, 6, 3, 2]]), 6, 3, {
    classNames: { 1: 'Stroma', 2: 'Tumor' },
    classColors: { 1: [150, 200, 150], 2: [200, 0, 0] },
    objectType: 'detection',
    mpp: { x: 0.5, y: 0.5 },
  });
  assert.deepEqual(fc.features.map((f) => f.properties.classification), [{ name: 'Stroma', color: [150, 200, 150] }, { name: 'Tumor', color: [200, 0, 0] }]);
  assert.ok(fc.features.every((f) => f.properties.objectType === 'detection'));
  assert.deepEqual(fc.features[0].properties.measurements, { 'Area px^2': 6, 'Area µm^2': 1.5 });
});

test('a ring-shaped region that touches itself at a corner traces without crossing', () => {
  // an L-shaped band closing on itself diagonally leaves a hole touching the outer ring at (3, 3)
  const mask = draw(6, 6, [[0, 0, 6, 1, 1], [0, 0, 1, 3, 1], [5, 0, 6, 6, 1], [3, 5, 6, 6, 1], [1, 2, 3, 3, 1], [3, 3, 4, 5, 1]]);
  const [region] = traceRegions(mask, 6, 6);
  const holes = region.holes.reduce((s, h) => s - signedArea(h), 0);
  assert.equal(signedArea(region.outer) - holes, region.pixels);
});
