import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { findItems } from '../../src/serve/catalog.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { Slide, openslideVersion } from '../../src/wsi/slide.js';

const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
const [W, H] = [2220, 2967];
// the predicted region of the fixture mask, in level-0 pixels
const MASK = { left: 400, top: 500, right: 1400, bottom: 1500 };
const skip = openslideVersion() ? false : 'patho was built without OpenSlide';

let tmp: string;
let served: string;
let server: RunningServer;

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), 'patho-serve-slides-'));
  served = join(tmp, 'served');
  await mkdir(join(served, 'thumbs'), { recursive: true });
  await copyFile(CMU, join(served, 'cmu.svs'));
  const mask = Buffer.alloc(W * H);
  for (let y = MASK.top; y < MASK.bottom; y++) mask.fill(255, y * W + MASK.left, y * W + MASK.right);
  const raw = { raw: { width: W, height: H, channels: 1 as const } };
  // as patho predict writes a slide: a pyramidal tiled TIFF at level-0 geometry, a subsampled PNG, an overlay thumbnail
  await sharp(mask, raw).tiff({ tile: true, pyramid: true, compression: 'deflate', tileWidth: 256, tileHeight: 256 }).toFile(join(served, 'cmu_mask.tif'));
  await sharp(mask, raw).resize(555, 742, { kernel: 'nearest' }).png().toFile(join(served, 'cmu_mask.png'));
  await sharp(mask, raw).resize(555, 742).png().toFile(join(served, 'thumbs', 'cmu_overlay.png'));
  await sharp(mask, raw).tiff({ tile: true, pyramid: true, compression: 'deflate' }).toFile(join(served, 'thumbs', 'cmu_mask.tif'));
  server = await startServer({ dir: served, port: 0 });
});

after(async () => {
  if (skip) return;
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const get = async (path: string) => {
  const response = await fetch(`${server.url}${path}`);
  assert.equal(response.status, 200, path);
  return Buffer.from(await response.arrayBuffer());
};

test('a slide is shown through OpenSlide with its pyramidal TIFF mask; without the slide, its overlay thumbnail', { skip }, async () => {
  assert.deepEqual(await findItems(served), [
    { id: 'cmu', name: 'cmu', image: 'cmu.svs', mask: 'cmu_mask.tif', truth: undefined, prob: undefined },
    { id: 'thumbs/cmu', name: 'cmu', image: 'thumbs/cmu_overlay.png', mask: 'thumbs/cmu_mask.tif', truth: undefined, prob: undefined },
  ]);
});

test('slide tiles: the descriptor has level 0 size, a full-resolution tile matches OpenSlide, coarse tiles cover the slide', { skip }, async () => {
  assert.match((await get('dzi/cmu.svs.dzi')).toString(), /<Size Width="2220" Height="2967"\/>/);
  // 2967 rows: levels 0..12, level 12 at full resolution
  const tile = await sharp(await get('dzi/cmu.svs_files/12/1_2.jpg?style=image')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([tile.info.width, tile.info.height, tile.info.channels], [256, 256, 3]);
  const slide = Slide.open(join(served, 'cmu.svs'));
  const rgba = slide.readRegion(0, 256, 512, 256, 256);
  slide.close();
  let difference = 0;
  for (let i = 0; i < 256 * 256; i++) for (let c = 0; c < 3; c++) difference += Math.abs(rgba[i * 4 + c] - tile.data[i * 3 + c]);
  assert.ok(difference / (256 * 256 * 3) < 4, `mean difference ${difference / (256 * 256 * 3)} (JPEG)`);
  const whole = await sharp(await get('dzi/cmu.svs_files/5/0_0.jpg?style=image')).metadata();
  assert.deepEqual([whole.width, whole.height], [Math.ceil(W / 128), Math.ceil(H / 128)]);
});

test('mask tiles from the pyramidal TIFF line up with the slide at every level', { skip }, async () => {
  for (const level of [12, 9]) {
    const scale = 2 ** (12 - level);
    // the tile holding the mask's top-left corner
    const [column, row] = [Math.floor(MASK.left / scale / 256), Math.floor(MASK.top / scale / 256)];
    const tile = await get(`dzi/cmu_mask.tif_files/${level}/${column}_${row}.png?style=fill`);
    const { data, info } = await sharp(tile).raw().toBuffer({ resolveWithObject: true });
    const alpha = (x: number, y: number) => data[((Math.floor(y / scale) - row * 256) * info.width + Math.floor(x / scale) - column * 256) * 4 + 3];
    assert.equal(alpha(MASK.left + 2 * scale, MASK.top + 2 * scale), 255, `level ${level} inside`);
    assert.equal(alpha(MASK.left - 2 * scale, MASK.top + 2 * scale), 0, `level ${level} left of the mask`);
    assert.equal(alpha(MASK.left + 2 * scale, MASK.top - 2 * scale), 0, `level ${level} above the mask`);
  }
});
