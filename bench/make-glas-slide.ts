/**
 * A realistic annotated slide from real data: the GlaS colorectal training
 * images stitched into one tiled pyramidal TIFF "slide" at 0.465 um/px
 * (GlaS's scan resolution, written in the TIFF resolution tags), on glass
 * between the images, and their gland masks as a QuPath-style GeoJSON traced
 * here: for every other image (by name order) a "Background" region over the
 * image with its glands ("Gland") on top; the other images are left
 * unannotated, as a pathologist's partial annotation leaves them. A manifest
 * says where each image lies and whether it was annotated, so training from
 * the slide can be compared with training on the same images as a folder.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/make-glas-slide.js [GLAS_DIR] [OUT_DIR]
 * (default ../shared/datasets/glas-train and /tmp/glas-slide): writes
 * OUT_DIR/slides/glas.tif, OUT_DIR/annotations/glas.geojson, OUT_DIR/manifest.json.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { naturalCompare } from '../src/data/dataset.js';
import { traceRegions } from '../src/wsi/contours.js';

const glas = process.argv[2] ?? '../shared/datasets/glas-train';
const out = process.argv[3] ?? '/tmp/glas-slide';
const MPP = 0.465;
const GAP = 256;
const GLASS = { r: 242, g: 240, b: 244 };

const names = (await readdir(join(glas, 'images'))).filter((f) => f.endsWith('.png')).map((f) => f.slice(0, -4)).sort(naturalCompare);
const sizes = await Promise.all(names.map(async (n) => sharp(join(glas, 'images', `${n}.png`)).metadata()));
const cellW = Math.max(...sizes.map((m) => m.width!)) + GAP;
const cellH = Math.max(...sizes.map((m) => m.height!)) + GAP;
const columns = Math.ceil(Math.sqrt(names.length));
const rows = Math.ceil(names.length / columns);
const width = columns * cellW + GAP;
const height = rows * cellH + GAP;

const rect = (x0: number, y0: number, x1: number, y1: number) => [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
const features: object[] = [];
const placed: { name: string; x: number; y: number; width: number; height: number; annotated: boolean }[] = [];
for (let i = 0; i < names.length; i++) {
  const [x, y] = [GAP + (i % columns) * cellW, GAP + Math.floor(i / columns) * cellH];
  const { width: w, height: h } = sizes[i] as { width: number; height: number };
  const annotated = i % 2 === 0;
  placed.push({ name: names[i], x, y, width: w, height: h, annotated });
  if (!annotated) continue;
  features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [rect(x, y, x + w, y + h)] }, properties: { objectType: 'annotation', classification: { name: 'Background', color: [255, 255, 255] } } });
  const mask = await sharp(join(glas, 'masks', `${names[i]}.png`)).extractChannel(0).raw().toBuffer();
  for (const region of traceRegions(new Uint8Array(mask.buffer, mask.byteOffset, mask.length), w, h)) {
    const rings = [region.outer, ...region.holes].map((ring) => ring.map(([px, py]) => [px + x, py + y]));
    features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: rings }, properties: { objectType: 'annotation', classification: { name: 'Gland', color: [200, 0, 0] } } });
  }
}

await mkdir(join(out, 'slides'), { recursive: true });
await mkdir(join(out, 'annotations'), { recursive: true });
await sharp({ create: { width, height, channels: 3, background: GLASS }, limitInputPixels: false })
  .composite(placed.map((p) => ({ input: join(glas, 'images', `${p.name}.png`), left: p.x, top: p.y })))
  .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', quality: 90, xres: 1000 / MPP, yres: 1000 / MPP, resolutionUnit: 'cm' })
  .toFile(join(out, 'slides', 'glas.tif'));
await writeFile(join(out, 'annotations', 'glas.geojson'), JSON.stringify({ type: 'FeatureCollection', features }));
await writeFile(join(out, 'manifest.json'), JSON.stringify({ mpp: MPP, width, height, images: placed }, null, 1));
console.log(`${out}/slides/glas.tif: ${width} x ${height} at ${MPP} um/px, ${names.length} GlaS images, ${placed.filter((p) => p.annotated).length} annotated (${features.length} features)`);
