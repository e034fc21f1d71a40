/** QuPath's GeoJSON exports: the shapes QuPath writes, and the problems a user meets, each naming file and feature. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { outsideSlide, parseAnnotations, selfIntersection } from '../../src/wsi/annotations.js';
import { traceRegions } from '../../src/wsi/contours.js';

const square = (x: number, y: number, s: number) => [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]];

/** A Feature as QuPath 0.4 writes it. */
const feature = (geometry: object, name?: string, extra: object = {}) => ({
  type: 'Feature',
  id: 'f3a9c1de-0000-0000-0000-000000000000',
  geometry,
  properties: { objectType: 'annotation', ...(name ? { classification: { name, color: [200, 0, 0] } } : {}), ...extra },
});

test('a FeatureCollection and a bare array of Features read the same', () => {
  const features = [feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }, 'Tumor')];
  const a = parseAnnotations(JSON.stringify({ type: 'FeatureCollection', features }), 'a.geojson');
  const b = parseAnnotations(JSON.stringify(features), 'b.geojson');
  assert.deepEqual(a, b);
  assert.deepEqual(a.problems, []);
  assert.equal(a.annotations.length, 1);
  assert.deepEqual(a.annotations[0].bbox, [0, 0, 10, 10]);
  assert.equal(a.annotations[0].className, 'Tumor');
  assert.deepEqual(a.annotations[0].color, [200, 0, 0]);
  assert.equal(a.annotations[0].objectType, 'annotation');
});

test('holes are subtracted from the area, whichever way QuPath oriented the rings; MultiPolygons add up', () => {
  const outer = square(0, 0, 10);
  const hole = square(2, 2, 4);
  const clockwiseHole = [...hole].reverse();
  const parsed = parseAnnotations(
    JSON.stringify([
      feature({ type: 'Polygon', coordinates: [outer, hole] }, 'Stroma'),
      feature({ type: 'Polygon', coordinates: [[...outer].reverse(), clockwiseHole] }, 'Stroma'),
      feature({ type: 'MultiPolygon', coordinates: [[outer, hole], [square(20, 20, 3)]] }, 'Stroma'),
    ]),
    'holes.geojson',
  );
  assert.deepEqual(parsed.annotations.map((a) => a.area), [84, 84, 93]);
  assert.equal(parsed.annotations[2].polygons.length, 2);
  assert.deepEqual(parsed.annotations[2].bbox, [0, 0, 23, 23]);
});

test("QuPath 0.2's packed colorRGB, detections, unclassified objects, and geometries without area", () => {
  const parsed = parseAnnotations(
    JSON.stringify([
      { type: 'Feature', geometry: { type: 'Polygon', coordinates: [square(0, 0, 5)] }, properties: { classification: { name: 'Tumor', colorRGB: -3670016 }, isLocked: false } },
      feature({ type: 'Polygon', coordinates: [square(0, 0, 5)] }, 'Immune cells', { objectType: 'detection' }),
      feature({ type: 'Polygon', coordinates: [square(0, 0, 5)] }),
      feature({ type: 'Point', coordinates: [3, 4] }, 'Tumor'),
      feature({ type: 'LineString', coordinates: [[0, 0], [5, 5]] }, 'Tumor'),
    ]),
    'mixed.geojson',
  );
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(parsed.annotations[0].color, [200, 0, 0]);
  assert.equal(parsed.annotations[0].objectType, 'annotation');
  assert.equal(parsed.annotations[1].objectType, 'detection');
  assert.equal(parsed.annotations[2].className, null);
  assert.equal(parsed.withoutArea, 2);
  assert.deepEqual(parsed.annotations.map((a) => a.index), [0, 1, 2]);
});

test('problems name the file and the feature: not JSON, not GeoJSON, a ring crossing itself, bad positions', () => {
  const notJson = parseAnnotations('{"type": "FeatureCollection", "features": [', 'broken.geojson');
  assert.equal(notJson.problems.length, 1);
  assert.equal(notJson.problems[0].file, 'broken.geojson');
  assert.equal(notJson.problems[0].feature, null);
  assert.match(notJson.problems[0].message, /^not JSON: /);

  assert.match(parseAnnotations('{"type": "Polygon"}', 'x.geojson').problems[0].message, /neither a GeoJSON FeatureCollection nor an array of Features/);

  const bowTie = [[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]];
  const parsed = parseAnnotations(
    JSON.stringify([
      feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }, 'Tumor'),
      feature({ type: 'Polygon', coordinates: [bowTie] }, 'Tumor'),
      feature({ type: 'Polygon', coordinates: [[[0, 0], [1, 'a'], [2, 2], [0, 0]]] }, 'Tumor'),
      feature({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [0, 0]]] }, 'Tumor'),
    ]),
    'slide.geojson',
  );
  assert.equal(parsed.annotations.length, 1);
  assert.deepEqual(parsed.problems.map((p) => p.feature), [1, 2, 3]);
  assert.match(parsed.problems[0].message, /outer ring crosses itself/);
  assert.match(parsed.problems[1].message, /ring 0, position 1 is \[1,"a"\], not \[x, y\] numbers/);
  assert.match(parsed.problems[2].message, /needs at least 4/);
});

test('coordinates outside the slide are problems of their feature', () => {
  const parsed = parseAnnotations(JSON.stringify([feature({ type: 'Polygon', coordinates: [square(0, 0, 10)] }, 'A'), feature({ type: 'Polygon', coordinates: [square(95, 5, 10)] }, 'A')]), 's.geojson');
  const problems = outsideSlide(parsed.annotations, 100, 100, 's.geojson');
  assert.equal(problems.length, 1);
  assert.equal(problems[0].feature, 1);
  assert.match(problems[0].message, /\[95, 5, 105, 15\] \(minX, minY, maxX, maxY\) reach outside the 100x100 slide/);
});

test('rings traced from masks that touch themselves at a corner are not taken for crossings', () => {
  // a C-shaped region whose ends meet diagonally, and a ring whose hole touches the outer ring at a corner
  const masks = [
    { w: 4, h: 3, data: [1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0] },
    { w: 3, h: 3, data: [1, 1, 1, 1, 0, 1, 1, 1, 0] },
  ];
  for (const m of masks) {
    for (const region of traceRegions(Uint8Array.from(m.data), m.w, m.h)) {
      for (const ring of [region.outer, ...region.holes]) assert.equal(selfIntersection(ring), null, JSON.stringify(ring));
    }
  }
  // a figure eight drawn through one shared vertex only touches; an overlap along an edge is a crossing
  assert.equal(selfIntersection([[0, 0], [2, 0], [2, 2], [4, 2], [4, 4], [2, 4], [2, 2], [0, 2], [0, 0]]), null);
  assert.notEqual(selfIntersection([[0, 0], [4, 0], [4, 2], [3, 2], [3, 0], [1, 0], [1, -2], [0, -2], [0, 0]]), null);
});
