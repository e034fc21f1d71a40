/**
 * Agreement tiles of `patho serve`: a predicted mask compared with its ground
 * truth in one tile, on a small synthetic image whose truth and prediction
 * overlap in part, so that each of agreement, miss and false alarm has pixels
 * of its own; and the parameters the tile endpoint refuses.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR, PREDICTION_COLOUR } from '../../src/report/palette.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';

const WIDTH = 40;
const HEIGHT = 30;
/** Rows 5..24 of both; truth columns 5..24, prediction 15..34: agreement 15..24, misses 5..14, false alarms 25..34. */
const TRUTH = { left: 5, right: 25 };
const PREDICTION = { left: 15, right: 35 };
const ROWS = { top: 5, bottom: 25 };
/** Level of full resolution: ceil(log2(40)). */
const FULL = 6;

let tmp: string;
let server: RunningServer;

const rectangle = ({ left, right }: { left: number; right: number }, width = WIDTH, height = HEIGHT) => {
  const mask = new Uint8Array(width * height);
  for (let y = ROWS.top; y < ROWS.bottom; y++) mask.fill(255, y * width + left, y * width + right);
  return mask;
};
const grayPng = (data: Uint8Array, path: string, width = WIDTH, height = HEIGHT) =>
  sharp(data, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(path);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-agreement-'));
  const served = join(tmp, 'served');
  await mkdir(join(served, 'run'), { recursive: true });
  await grayPng(Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => 60 + (i % WIDTH) * 3), join(served, 'run', 'cells.png'));
  await grayPng(rectangle(TRUTH), join(served, 'run', 'cells_truth.png'));
  await grayPng(rectangle(PREDICTION), join(served, 'run', 'cells_mask.png'));
  await grayPng(rectangle(TRUTH, WIDTH + 1), join(served, 'run', 'wider_truth.png'), WIDTH + 1);
  server = await startServer({ dir: served, port: 0 });
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const get = (target: string) => fetch(`${server.url}${target}`);

async function tile(query: string, level = FULL) {
  const response = await get(`dzi/run/cells_mask.png_files/${level}/0_0.png?${query}`);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get('content-type'), 'image/png');
  const { data, info } = await sharp(Buffer.from(await response.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { info, at: (x: number, y: number) => [...data.subarray((y * info.width + x) * 4, (y * info.width + x) * 4 + 4)] };
}

const opaque = (colour: readonly number[]) => [...colour, 255];
const TRANSPARENT = [0, 0, 0, 0];

test('agreement tile, filled: agreement, misses and false alarms opaque in the palette, every other pixel transparent (the image shows)', async () => {
  const filled = await tile('style=fill&overlay=agreement&truth=run/cells_truth.png');
  assert.deepEqual([filled.info.width, filled.info.height], [WIDTH, HEIGHT]);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const inRows = y >= ROWS.top && y < ROWS.bottom;
      const truth = inRows && x >= TRUTH.left && x < TRUTH.right;
      const predicted = inRows && x >= PREDICTION.left && x < PREDICTION.right;
      const expected = truth && predicted ? opaque(AGREEMENT_COLOUR) : truth ? opaque(MISS_COLOUR) : predicted ? opaque(FALSE_ALARM_COLOUR) : TRANSPARENT;
      assert.deepEqual(filled.at(x, y), expected, `pixel ${x},${y}`);
    }
  }
});

test('agreement tile, outlined: each region drawn where it meets another or the background, in its own colour; insides transparent', async () => {
  const outlined = await tile('style=outline&overlay=agreement&truth=run/cells_truth.png');
  assert.deepEqual(outlined.at(TRUTH.left, 10), opaque(MISS_COLOUR), 'miss meets the background');
  assert.deepEqual(outlined.at(PREDICTION.left - 1, 10), opaque(MISS_COLOUR), 'miss meets agreement');
  assert.deepEqual(outlined.at(PREDICTION.left, 10), opaque(AGREEMENT_COLOUR), 'agreement meets miss');
  assert.deepEqual(outlined.at(TRUTH.right - 1, 10), opaque(AGREEMENT_COLOUR), 'agreement meets false alarm');
  assert.deepEqual(outlined.at(TRUTH.right, 10), opaque(FALSE_ALARM_COLOUR), 'false alarm meets agreement');
  assert.deepEqual(outlined.at(20, ROWS.top), opaque(AGREEMENT_COLOUR), 'agreement meets the background');
  for (const x of [10, 20, 30]) assert.deepEqual(outlined.at(x, 15), TRANSPARENT, `inside at ${x},15`);
  assert.deepEqual(outlined.at(2, 2), TRANSPARENT);
});

test('a coarser level compares the masks scaled by nearest neighbour: the three colours, no blends', async () => {
  // level 5 is 20x15: every second pixel
  const half = await tile('style=fill&overlay=agreement&truth=run/cells_truth.png', FULL - 1);
  assert.deepEqual([half.info.width, half.info.height], [WIDTH / 2, HEIGHT / 2]);
  const allowed = new Set([AGREEMENT_COLOUR, MISS_COLOUR, FALSE_ALARM_COLOUR].map((c) => JSON.stringify(opaque(c))).concat(JSON.stringify(TRANSPARENT)));
  const seen = new Set<string>();
  for (let y = 0; y < half.info.height; y++) for (let x = 0; x < half.info.width; x++) seen.add(JSON.stringify(half.at(x, y)));
  assert.deepEqual([...seen].sort(), [...allowed].sort());
});

test('without a truth the mask is drawn alone in the prediction colour; the descriptor of an agreement overlay names PNG tiles', async () => {
  const alone = await tile('style=fill');
  assert.deepEqual(alone.at(10, 10), TRANSPARENT);
  assert.deepEqual(alone.at(30, 10), opaque(PREDICTION_COLOUR));
  const dzi = await get('dzi/run/cells_mask.png.dzi?style=fill&overlay=agreement&truth=run/cells_truth.png');
  assert.equal(dzi.status, 200);
  assert.match(await dzi.text(), /Format="png"/);
});

test('bad tile parameters are refused with 400 (404 for a truth that is not there), naming the parameter', async () => {
  const tilePath = 'dzi/run/cells_mask.png_files/6/0_0.png';
  const refusals: [string, number, RegExp][] = [
    ['style=fill&overlay=glow', 400, /^overlay must be mask or agreement, not "glow"/],
    ['style=glow', 400, /^style must be image, fill or outline, not "glow"/],
    ['style=fill&colour=purple', 400, /^colour must be prediction or truth, not "purple"/],
    ['style=fill&overlay=agreement', 400, /^overlay=agreement needs truth=PATH/],
    ['style=image&overlay=agreement&truth=run/cells_truth.png', 400, /style must be fill or outline/],
    ['style=fill&overlay=agreement&truth=../secret.png', 400, /^truth: empty, \. or \.\. segment/],
    ['style=fill&overlay=agreement&truth=run/missing.png', 404, /^truth: no such file/],
    ['style=fill&overlay=agreement&truth=run', 404, /^truth: not a file/],
    ['style=fill&overlay=agreement&truth=run/wider_truth.png', 400, /^truth: the truth is 41x30, the mask 40x30/],
  ];
  for (const [query, status, reason] of refusals) {
    const response = await get(`${tilePath}?${query}`);
    const body = await response.text();
    assert.equal(response.status, status, `${query}: ${body}`);
    assert.match(body, reason, query);
  }
  // the descriptor is refused the same way, a truth of another size already there
  assert.equal((await get('dzi/run/cells_mask.png.dzi?style=fill&overlay=glow')).status, 400);
  const mismatch = await get('dzi/run/cells_mask.png.dzi?style=fill&overlay=agreement&truth=run/wider_truth.png');
  assert.equal(mismatch.status, 400);
  assert.match(await mismatch.text(), /^truth: the truth is 41x30, the mask 40x30/);
});
