// Peak memory of slide training against the slide's area: the stitched GlaS
// slide (bench/make-glas-slide.ts) and a copy four times its area (2 x 2 of
// it, annotations shifted), each trained for the same number of patches.
// Run: node bench/make-glas-slide.js first, then
//   node bench/slide-memory.mjs [SLIDE_DIR] [OUT]   (defaults /tmp/glas-slide, /tmp/slide-memory)
// and compare the "Maximum resident set size" lines it prints.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const slideDir = process.argv[2] ?? '/tmp/glas-slide';
const out = process.argv[3] ?? '/tmp/slide-memory';
const small = join(slideDir, 'slides', 'glas.tif');
const big = join(out, 'big', 'slides', 'glas.tif');
const meta = await sharp(small).metadata();
const { width, height } = meta;
if (!existsSync(big)) {
  mkdirSync(join(out, 'big', 'slides'), { recursive: true });
  mkdirSync(join(out, 'big', 'annotations'), { recursive: true });
  const input = await sharp(small, { limitInputPixels: false }).raw().toBuffer();
  const tile = { raw: { width, height, channels: 3 } };
  await sharp({ create: { width: 2 * width, height: 2 * height, channels: 3, background: { r: 242, g: 240, b: 244 } }, limitInputPixels: false })
    .composite([0, 1].flatMap((j) => [0, 1].map((i) => ({ input, ...tile, left: i * width, top: j * height }))))
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', xres: 1000 / 0.465, yres: 1000 / 0.465, resolutionUnit: 'cm' })
    .toFile(big);
  const geo = JSON.parse(readFileSync(join(slideDir, 'annotations', 'glas.geojson'), 'utf8'));
  const shift = (c, dx, dy) => (typeof c[0] === 'number' ? [c[0] + dx, c[1] + dy] : c.map((d) => shift(d, dx, dy)));
  const features = [0, 1].flatMap((j) => [0, 1].flatMap((i) => geo.features.map((f) => ({ ...f, geometry: { ...f.geometry, coordinates: shift(f.geometry.coordinates, i * width, j * height) } }))));
  writeFileSync(join(out, 'big', 'annotations', 'glas.geojson'), JSON.stringify({ type: 'FeatureCollection', features }));
}
for (const [name, dir] of [['1x', slideDir], ['4x', join(out, 'big')]]) {
  const args = ['-v', process.execPath, 'bin/patho.js', 'train', '--slides', join(dir, 'slides'), '--annotations', join(dir, 'annotations'),
    '--no-plan', '--epochs', '4', '--samples-per-epoch', '80', '--patch', '128', '--depth', '3', '--base-channels', '8', '--batch-size', '4',
    '--threads', '1', '--workers', '1', '--seed', '0', '--devices', 'cpu', '--out', join(out, `run-${name}`)];
  const text = spawnSync('/usr/bin/time', args, { encoding: 'utf8' }).stderr;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  console.log(`${name}: ${name === '1x' ? `${width}x${height}` : `${2 * width}x${2 * height}`}  peak RSS ${rss ? (Number(rss[1]) / 1024).toFixed(0) + ' MiB' : 'not found: ' + text.slice(-400)}`);
}
