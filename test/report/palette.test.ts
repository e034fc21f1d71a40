import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AGREEMENT,
  AGREEMENT_COLOUR,
  CLASS_COLOURS,
  COMPARISON_COLOURS,
  FALSE_ALARM,
  FALSE_ALARM_COLOUR,
  MISS,
  MISS_COLOUR,
  PREDICTION_COLOUR,
  TRUTH_COLOUR,
  compareMasks,
  paintLabels,
} from '../../src/report/palette.js';

/** Hue in degrees (0-360) and saturation (0-1, HSV) of an RGB colour. */
function hueSaturation([r, g, b]: readonly number[]): { hue: number; saturation: number } {
  const max = Math.max(r, g, b);
  const range = max - Math.min(r, g, b);
  if (range === 0) return { hue: 0, saturation: 0 };
  const h = max === r ? ((g - b) / range + 6) % 6 : max === g ? (b - r) / range + 2 : (r - g) / range + 4;
  return { hue: h * 60, saturation: range / max };
}

const hueApart = (a: number, b: number) => Math.min(Math.abs(a - b), 360 - Math.abs(a - b));

test('every palette colour is saturated and none lies in the purple-to-pink hues of haematoxylin and eosin', () => {
  // haematoxylin stains purple-blue (hue ~250-290), eosin pink (~320-350); magenta is 300
  for (const colour of [PREDICTION_COLOUR, TRUTH_COLOUR, ...COMPARISON_COLOURS, ...CLASS_COLOURS]) {
    const { hue, saturation } = hueSaturation(colour);
    assert.ok(saturation >= 0.9, `${colour}: saturation ${saturation} stands out on gray`);
    assert.ok(hue < 240 || hue > 355, `${colour}: hue ${hue.toFixed(0)} is among the stains' hues`);
  }
});

test('colours shown together differ in hue by at least 30 degrees: the comparison, prediction beside truth, the classes', () => {
  for (const group of [COMPARISON_COLOURS, [PREDICTION_COLOUR, TRUTH_COLOUR], CLASS_COLOURS]) {
    const hues = group.map((c) => hueSaturation(c).hue);
    for (let i = 0; i < hues.length; i++) {
      for (let j = i + 1; j < hues.length; j++) assert.ok(hueApart(hues[i], hues[j]) >= 30, `hues ${hues[i].toFixed(0)} and ${hues[j].toFixed(0)} in ${JSON.stringify(group)}`);
    }
  }
});

test('compareMasks: agreement, miss, false alarm and neither, from 0/1 and 0/255 masks alike', () => {
  assert.deepEqual([...compareMasks([1, 1, 0, 0], [1, 0, 1, 0])], [AGREEMENT, MISS, FALSE_ALARM, 0]);
  assert.deepEqual([...compareMasks([255, 255, 0, 0], [255, 0, 255, 0])], [AGREEMENT, MISS, FALSE_ALARM, 0]);
  assert.deepEqual(COMPARISON_COLOURS, [AGREEMENT_COLOUR, MISS_COLOUR, FALSE_ALARM_COLOUR]);
  assert.throws(() => compareMasks([1, 0], [1, 0, 0]), /the truth has 2 pixels, the prediction 3/);
});

test('paintLabels: labels painted opaque in their colour (cycling past the last), label 0 left as it was', () => {
  const rgba = new Uint8ClampedArray(5 * 4).fill(7);
  paintLabels([0, 1, 2, 3, 4], [[10, 20, 30], [40, 50, 60], [70, 80, 90]], rgba);
  assert.deepEqual([...rgba], [7, 7, 7, 7, 10, 20, 30, 255, 40, 50, 60, 255, 70, 80, 90, 255, 10, 20, 30, 255]);
});
