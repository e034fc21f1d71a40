/** The report script's pure helpers (no browser). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scientificLabel } from '../../src/report/page.js';

test('learning-rate ticks read 1e-3, 2.5e-4 (three significant digits at most), 0 as 0', () => {
  assert.deepEqual([0.001, 0.0005, 0.00025, 0.0001234, 2e-5, 0.1, 0].map(scientificLabel), ['1e-3', '5e-4', '2.5e-4', '1.23e-4', '2e-5', '1e-1', '0']);
  // ticks that uPlot's own labels round alike stay apart
  assert.notEqual(scientificLabel(0.0008), scientificLabel(0.001));
  // float noise from the tick arithmetic does not show
  assert.equal(scientificLabel(0.0006000000000000001), '6e-4');
});
