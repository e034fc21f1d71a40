/**
 * Predicted regions as a GeoJSON FeatureCollection that QuPath imports as
 * annotations (or detections): one Polygon feature per region (holes
 * included), coordinates in level-0 pixels of the slide, the training class
 * names and colours, and the area in `measurements` (QuPath keeps
 * measurements and drops properties it does not know), in um^2 where the
 * slide knows its mpp. Pure: no addon.
 */
import { signedArea, traceRegions, type Ring } from './contours.js';

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
  /** regions with fewer mask pixels are left out. Default 1. */
  minPixels?: number;
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
 * Polygons of every nonzero value of a label mask (binary masks: 1 or 255).
 * Coordinates are level-0 pixel corners: mask pixel (x, y) covers
 * [x * scale + offset[0], (x + 1) * scale + offset[0]).
 */
export function maskToGeoJson(mask: Uint8Array, width: number, height: number, options: GeoJsonOptions = {}): FeatureCollection {
  const scale = options.scale ?? 1;
  const [ox, oy] = options.offset ?? [0, 0];
  const values = new Set<number>();
  for (const v of mask) if (v) values.add(v);
  const binary = values.size === 1;
  const features: PolygonFeature[] = [];
  for (const value of [...values].sort((a, b) => a - b)) {
    const name = options.classNames?.[value] ?? (binary ? 'foreground' : `class ${value}`);
    const color = options.classColors?.[value] ?? COLORS[(binary ? 0 : value - 1) % COLORS.length];
    for (const region of traceRegions(mask, width, height, value)) {
      if (region.pixels < (options.minPixels ?? 1)) continue;
      const rings = [region.outer, ...region.holes].map((ring) => ring.map(([x, y]): [number, number] => [x * scale + ox, y * scale + oy]));
      const area = rings.reduce((sum, ring) => sum + signedArea(ring), 0);
      const properties: PolygonFeature['properties'] = {
        objectType: options.objectType ?? 'annotation',
        classification: { name, color },
        measurements: { 'Area px^2': area },
        area_px: area,
      };
      if (options.mpp) {
        properties.area_um2 = area * options.mpp.x * options.mpp.y;
        properties.measurements['Area µm^2'] = properties.area_um2;
      }
      features.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: rings }, properties });
    }
  }
  return { type: 'FeatureCollection', features };
}
