/**
 * Predicted regions as a GeoJSON FeatureCollection that QuPath imports as
 * annotations (or detections): one Polygon feature per region (holes
 * included), coordinates in level-0 pixels of the slide, the training class
 * names and colours, and the area in `measurements` (QuPath keeps
 * measurements and drops properties it does not know), in um^2 where the
 * slide knows its mpp; optionally simplified (topology kept) and without
 * the smallest regions. Pure: no addon.
 */
import { signedArea, StripTracer, type Region, type Ring } from './contours.js';
import { simplifyRegions } from './simplify.js';

export interface GeoJsonOptions {
  /** level-0 pixels per mask pixel. Default 1. */
  scale?: number;
  /** level-0 position of the mask's top-left corner. Default [0, 0]. */
  offset?: [number, number];
  /** microns per level-0 pixel, for areas in um^2 */
  mpp?: { x: number; y: number } | null;
  /** class names by mask value; default 'foreground' for a binary mask, 'class K' otherwise */
  classNames?: Record<number, string>;
  /** class colours by mask value; default a fixed palette */
  classColors?: Record<number, [number, number, number]>;
  /** QuPath object type of every feature. Default 'annotation'. */
  objectType?: 'annotation' | 'detection';
  /**
   * Douglas-Peucker tolerance in level-0 pixels, keeping topology within a
   * class (simplify.ts); 0 keeps the exact pixel outline. Default 0.
   */
  simplify?: number;
  /** Polygons of fewer um^2 (after simplification, holes excluded) are left out; needs `mpp`. */
  minArea?: number;
}

/** The names and colours of classes 1, 2, ... (a checkpoint's `classes`) as GeoJSON options keyed by mask value. */
export function namedClasses(classes: { names: string[]; colors: [number, number, number][] } | null | undefined): Pick<GeoJsonOptions, 'classNames' | 'classColors'> {
  if (!classes) return {};
  return {
    classNames: Object.fromEntries(classes.names.map((n, k) => [k + 1, n])),
    classColors: Object.fromEntries(classes.colors.map((c, k) => [k + 1, c])),
  };
}

/** A GeoJSON Feature with a Polygon geometry. */
export interface PolygonFeature {
  type: 'Feature';
  geometry: { type: 'Polygon'; coordinates: Ring[] };
  properties: {
    objectType: 'annotation' | 'detection';
    classification: { name: string; color: [number, number, number] };
    /** what QuPath shows in its measurement table: 'Area px^2' (level-0 pixels, holes excluded) and, with an mpp, 'Area µm^2' */
    measurements: Record<string, number>;
    /** the same areas as plain properties, for tools that read GeoJSON directly */
    area_px: number;
    area_um2?: number;
  };
}

export interface FeatureCollection {
  type: 'FeatureCollection';
  features: PolygonFeature[];
}

const COLORS: [number, number, number][] = [[255, 64, 64], [64, 160, 255], [64, 200, 64], [255, 200, 0], [200, 64, 255]];

/**
 * Polygons of every nonzero value of a label mask held in memory (binary
 * masks: 1 or 255); see `regionsToFeatures`.
 */
export function maskToGeoJson(mask: Uint8Array, width: number, height: number, options: GeoJsonOptions = {}): FeatureCollection {
  const tracer = new StripTracer(width, height, Math.max(1, height));
  tracer.addRows(mask, height);
  return { type: 'FeatureCollection', features: regionsToFeatures(tracer.finish(), options) };
}

/**
 * Features of traced regions, by mask value. Coordinates are level-0 pixel
 * corners: mask pixel (x, y) covers [x * scale + offset[0], (x + 1) * scale + offset[0]).
 * @throws when `minArea` is asked without `mpp`
 */
export function regionsToFeatures(regions: ReadonlyMap<number, Region[]>, options: GeoJsonOptions = {}): PolygonFeature[] {
  const scale = options.scale ?? 1;
  const [ox, oy] = options.offset ?? [0, 0];
  const { mpp, minArea } = options;
  if (minArea !== undefined && !mpp) throw new Error('a minimum area in um^2 needs the microns per pixel, and none is known');
  const binary = regions.size === 1;
  const features: PolygonFeature[] = [];
  for (const [value, traced] of regions) {
    const name = options.classNames?.[value] ?? (binary ? 'foreground' : `class ${value}`);
    const color = options.classColors?.[value] ?? COLORS[(binary ? 0 : value - 1) % COLORS.length];
    for (const region of simplifyRegions(traced, (options.simplify ?? 0) / scale)) {
      const rings = [region.outer, ...region.holes].map((ring) => ring.map(([x, y]): [number, number] => [x * scale + ox, y * scale + oy]));
      const area = rings.reduce((sum, ring) => sum + signedArea(ring), 0);
      if (minArea !== undefined && area * mpp!.x * mpp!.y < minArea) continue;
      const properties: PolygonFeature['properties'] = {
        objectType: options.objectType ?? 'annotation',
        classification: { name, color },
        measurements: { 'Area px^2': area },
        area_px: area,
      };
      if (mpp) {
        properties.area_um2 = area * mpp.x * mpp.y;
        properties.measurements['Area µm^2'] = properties.area_um2;
      }
      features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: rings }, properties });
    }
  }
  return features;
}
