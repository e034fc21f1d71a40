import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, SegmentationDataset } from '../../src/data/dataset.js';
import { decodeImageFile } from '../../src/data/decode.js';
import { pixels, tempDir, writeImage } from './helpers.js';

const W = 12;
const H = 8;
/** A left-half/right-half mask with foreground value v. */
const halves = (v: number) => pixels(W, H, 1, (x) => (x < W / 2 ? 0 : v));
const gray = pixels(W, H, 1, (x, y) => 10 * x + y);
const rgb = pixels(W, H, 3, (x, y, c) => 20 * c + 10 * x + y);

test('pairs images and masks by base name across png, jpg, tif, bmp, 16-bit and RGBA files', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/a.png'), rgb);
    await writeImage(join(dir, 'images/b.jpg'), rgb);
    await writeImage(join(dir, 'images/c.tif'), rgb);
    await writeImage(join(dir, 'images/d.bmp'), rgb);
    await writeImage(join(dir, 'images/e.png'), pixels(W, H, 3, (x, y, c) => 1000 * x + 100 * c + y, true));
    await writeImage(join(dir, 'images/f.png'), pixels(W, H, 4, (x, y, c) => (c === 3 ? 128 : 10 * x)));
    await writeImage(join(dir, 'images/10.png'), rgb);
    await writeImage(join(dir, 'masks/a.tif'), halves(255));
    await writeImage(join(dir, 'masks/b.png'), halves(1));
    await writeImage(join(dir, 'masks/c.bmp'), halves(255));
    await writeImage(join(dir, 'masks/d.png'), halves(255));
    await writeImage(join(dir, 'masks/e.png'), pixels(W, H, 1, (x) => (x < W / 2 ? 0 : 65535), true));
    // a gray mask saved as RGB with equal channels is read as gray
    await writeImage(join(dir, 'masks/f.png'), pixels(W, H, 3, (x) => (x < W / 2 ? 0 : 200)));
    await writeImage(join(dir, 'masks/10.png'), halves(255));
    await writeFile(join(dir, 'images/notes.txt'), 'not an image, ignored');
    const ds = await SegmentationDataset.open(dir, 'images', 'masks');
    assert.deepEqual(ds.entries.map((e) => e.name), ['10', 'a', 'b', 'c', 'd', 'e', 'f']);
    assert.equal(ds.channels, 3);
    assert.equal(ds.numClasses, 2);
    const expected = Uint8Array.from({ length: W * H }, (_, i) => (i % W < W / 2 ? 0 : 1));
    for (const m of ds.masks) assert.deepEqual(m.data, expected);
    const bmp = await ds.image(4);
    assert.deepEqual([...bmp.data.subarray(0, 6)], [...rgb.data.subarray(0, 6)]);
    const sixteen = await ds.image(5);
    assert.ok(sixteen.data instanceof Uint16Array && sixteen.maxValue === 65535);
    assert.equal(sixteen.data[3], 1000);
    const rgba = await ds.image(6);
    assert.equal(rgba.channels, 3, 'alpha is dropped');
  } finally {
    await cleanup();
  }
});

test('gray images stay one channel; the BMP decoder reads 8-bit palette files', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'g.png'), gray);
    const g = await decodeImageFile(join(dir, 'g.png'));
    assert.equal(g.channels, 1);
    assert.deepEqual(g.data, gray.data);
    // 2x2 8-bit palette BMP, gray palette: rows bottom-up, padded to 4 bytes
    const bmp = new Uint8Array(54 + 256 * 4 + 8);
    const v = new DataView(bmp.buffer);
    bmp.set([0x42, 0x4d]);
    v.setUint32(10, 54 + 1024, true);
    v.setUint32(14, 40, true);
    v.setInt32(18, 2, true);
    v.setInt32(22, 2, true);
    v.setUint16(28, 8, true);
    for (let i = 0; i < 256; i++) bmp.set([i, i, i, 0], 54 + i * 4);
    bmp.set([3, 4, 0, 0, 1, 2, 0, 0], 54 + 1024);
    await writeFile(join(dir, 'p.bmp'), bmp);
    const p = await decodeImageFile(join(dir, 'p.bmp'));
    assert.equal(p.channels, 1);
    assert.deepEqual([...p.data], [1, 2, 3, 4]);
  } finally {
    await cleanup();
  }
});

/** Opens a data set expected to fail, returning its problems by file name. */
async function problemsOf(dir: string): Promise<Map<string, string>> {
  const error = await SegmentationDataset.open(dir).then(
    () => assert.fail('expected a DatasetError'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DatasetError);
  return new Map(error.problems.map((p) => [p.file.slice(dir.length + 1), p.message]));
}

test('every kind of bad input is reported with its file and what is wrong', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/good.png'), gray);
    await writeImage(join(dir, 'masks/good.png'), halves(255));
    await writeImage(join(dir, 'images/three.png'), gray);
    await writeImage(join(dir, 'masks/three.png'), pixels(W, H, 1, (x) => (x < 4 ? 0 : x < 8 ? 128 : 255)));
    await writeImage(join(dir, 'images/colour.png'), gray);
    await writeImage(join(dir, 'masks/colour.png'), pixels(W, H, 3, (x, y, c) => (c === 0 ? 255 : 0)));
    await writeImage(join(dir, 'images/size.png'), gray);
    await writeImage(join(dir, 'masks/size.png'), pixels(W - 2, H, 1, () => 0));
    await writeImage(join(dir, 'images/lonely.png'), gray);
    await writeImage(join(dir, 'masks/orphan.png'), halves(255));
    await mkdir(join(dir, 'images'), { recursive: true });
    await writeFile(join(dir, 'images/broken.png'), 'this is not a PNG');
    await writeImage(join(dir, 'masks/broken.png'), halves(255));
    await writeImage(join(dir, 'images/rgb.png'), rgb);
    await writeImage(join(dir, 'masks/rgb.png'), halves(255));
    const problems = await problemsOf(dir);
    assert.match(problems.get('masks/three.png')!, /mask values not understood: 0, 128, 255/);
    assert.match(problems.get('masks/colour.png')!, /mask is an RGB colour image \(pixel \(0, 0\) is \(255, 0, 0\)\)/);
    assert.match(problems.get('masks/size.png')!, /mask is 10x8 but its image .*size\.png is 12x8/);
    assert.match(problems.get('images/lonely.png')!, /image has no mask/);
    assert.match(problems.get('masks/orphan.png')!, /mask has no image/);
    assert.match(problems.get('images/broken.png')!, /does not decode/);
    assert.match(problems.get('images/rgb.png')!, /image has 3 channel\(s\) but the data set's first image has 1/);
    assert.equal(problems.size, 7);
    assert.match((await SegmentationDataset.open(dir).catch((e: Error) => e.message)) as string, /^7 problem\(s\) in the data set/);

    const warnings: string[] = [];
    const ds = await SegmentationDataset.open(dir, 'images', 'masks', { skipBad: true, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(ds.entries.map((e) => e.name), ['good']);
    assert.equal(ds.skipped.length, 7);
    assert.equal(warnings.length, 8);
    assert.match(warnings[7], /skipped 7 bad file\(s\); 1 pair\(s\) remain/);
  } finally {
    await cleanup();
  }
});

test('foreground option: a value, a list, and a value-to-class map', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/a.png'), gray);
    await writeImage(join(dir, 'masks/a.png'), pixels(W, H, 1, (x) => (x < 4 ? 0 : x < 8 ? 128 : 255)));
    const one = await SegmentationDataset.open(dir, 'images', 'masks', { foreground: [128, 255] });
    assert.deepEqual([...new Set(one.masks[0].data)], [0, 1]);
    const multi = await SegmentationDataset.open(dir, 'images', 'masks', { foreground: { 128: 1, 255: 2 } });
    assert.equal(multi.numClasses, 3);
    assert.deepEqual([...multi.masks[0].data.subarray(0, W)], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    const error = await SegmentationDataset.open(dir, 'images', 'masks', { foreground: 255 }).catch((e: Error) => e.message);
    assert.match(error as string, /masks\/a\.png: mask values not understood: 128 \(values seen: 0, 128, 255\)/);
  } finally {
    await cleanup();
  }
});

test('a lossy JPEG mask is refused with a hint', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/a.png'), gray);
    await writeImage(join(dir, 'masks/a.jpg'), pixels(W, H, 1, (x, y) => ((x + y) % 3 === 0 ? 255 : 0)));
    const error = await SegmentationDataset.open(dir).catch((e: Error) => e.message);
    assert.match(error as string, /masks\/a\.jpg: mask values not understood/);
  } finally {
    await cleanup();
  }
});
