/**
 * A small annotated slide for the tests: the committed CMU-1 region (an
 * Aperio SVS, 2220 x 2967 at 0.499 um/px) and a GeoJSON written here as
 * QuPath exports it, with regions over epithelium ("Tumor"), stroma (with a
 * hole), glass ("Background") and a stretch marked "Ignore".
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CMU_SLIDE = fileURLToPath(new URL('../../../test/fixtures/wsi/cmu-1-small-region.svs', import.meta.url));

const rect = (x0: number, y0: number, x1: number, y1: number) => [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];

/** Level-0 regions of the test annotation, by class. */
export const REGIONS = {
  tumor: rect(850, 1600, 1050, 2400),
  tumorSecond: rect(800, 2500, 950, 2800),
  stroma: rect(1350, 2000, 1700, 2800),
  stromaHole: rect(1450, 2300, 1550, 2400),
  background: rect(100, 300, 500, 950),
  ignore: rect(1350, 2700, 1700, 2800),
};

export function cmuFeatures(): object[] {
  const feature = (geometry: object, name: string, color: number[]) => ({
    type: 'Feature',
    id: `${name}-${Math.random().toString(16).slice(2)}`,
    geometry,
    properties: { objectType: 'annotation', classification: { name, color } },
  });
  return [
    feature({ type: 'MultiPolygon', coordinates: [[REGIONS.tumor], [REGIONS.tumorSecond]] }, 'Tumor', [200, 0, 0]),
    feature({ type: 'Polygon', coordinates: [REGIONS.stroma, REGIONS.stromaHole] }, 'Stroma', [150, 200, 150]),
    feature({ type: 'Polygon', coordinates: [REGIONS.background] }, 'Background', [255, 255, 255]),
    feature({ type: 'Polygon', coordinates: [REGIONS.ignore] }, 'Ignore*', [180, 180, 180]),
  ];
}

/** A folder with slides/<name>.svs (a link to the fixture) and annotations/<name>.geojson for each name. */
export async function annotatedSlides(names: string[] = ['cmu'], features: object[] = cmuFeatures()): Promise<{ dir: string; slides: string; annotations: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'patho-slides-'));
  const slides = join(dir, 'slides');
  const annotations = join(dir, 'annotations');
  await mkdir(slides);
  await mkdir(annotations);
  for (const name of names) {
    await symlink(CMU_SLIDE, join(slides, `${name}.svs`));
    await writeFile(join(annotations, `${name}.geojson`), JSON.stringify({ type: 'FeatureCollection', features }));
  }
  return { dir, slides, annotations, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A 512 x 512 crop of the CMU-1 region (level-0 origin 1000, 2000: epithelium
 * at the left, stroma at the right) as a tiled pyramidal TIFF, and a GeoJSON
 * for it in its own coordinates: small enough to predict in seconds. OpenSlide
 * reads it as a generic TIFF, without mpp.
 */
export async function croppedSlide(slides: string, annotations: string, name: string): Promise<void> {
  const { Slide } = await import('../../src/wsi/slide.js');
  const sharp = (await import('sharp')).default;
  const slide = Slide.open(CMU_SLIDE);
  const rgba = slide.readRegion(0, 1000, 2000, 512, 512);
  slide.close();
  await sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), { raw: { width: 512, height: 512, channels: 4 } })
    .removeAlpha()
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg' })
    .toFile(join(slides, `${name}.tif`));
  const feature = (coordinates: number[][][], name: string, color: number[]) => ({
    type: 'Feature',
    geometry: { type: 'Polygon', coordinates },
    properties: { objectType: 'annotation', classification: { name, color } },
  });
  await writeFile(
    join(annotations, `${name}.geojson`),
    JSON.stringify([
      feature([rect(0, 0, 50, 400)], 'Tumor', [200, 0, 0]),
      feature([rect(350, 0, 512, 512), rect(450, 300, 500, 400)], 'Stroma', [150, 200, 150]),
    ]),
  );
}
