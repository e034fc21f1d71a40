/**
 * Regions drawn in QuPath, read from its GeoJSON export ("Export objects as
 * GeoJSON"): a FeatureCollection or a bare array of Features, Polygon and
 * MultiPolygon geometries with holes (GeometryCollections of them too),
 * `properties.classification` as QuPath 0.2 (`colorRGB`, a packed signed
 * int) or 0.3+ (`color`, [r, g, b]) writes it, and `objectType`.
 * Coordinates are level-0 pixels. Pure: no addon.
 *
 * Every problem names the file and the feature's index in it, so a
 * pathologist can find the region in QuPath; the caller decides whether a
 * problem stops the run or only drops that feature (--skip-bad).
 */
import { readFile } from 'node:fs/promises';
import { signedArea, type Ring } from './contours.js';

/** One classified region: the polygons of one Feature. */
export interface Annotation {
  /** index of the Feature in its file (0-based), for messages */
  index: number;
  /** QuPath's class name; null for an unclassified object */
  className: string | null;
  /** the class colour QuPath stored, when it stored one */
  color: [number, number, number] | null;
  /** 'annotation', 'detection', 'cell', 'tile', ... (QuPath's objectType; 'annotation' when absent) */
  objectType: string;
  /** polygons, each [outer ring, ...holes], every ring closed */
  polygons: Ring[][];
  /** [minX, minY, maxX, maxY] in level-0 pixels */
  bbox: [number, number, number, number];
  /** level-0 pixels enclosed (holes excluded) */
  area: number;
}

/** A feature that cannot be used, with the reason. */
export interface AnnotationProblem {
  file: string;
  /** feature index, or null for a problem with the whole file */
  feature: number | null;
  message: string;
}

export interface ParsedAnnotations {
  annotations: Annotation[];
  problems: AnnotationProblem[];
  /** features without an area (points, lines), left out without complaint */
  withoutArea: number;
}

/** Reads a QuPath GeoJSON file; a file that is not JSON is one problem with `feature: null`. */
export async function readAnnotations(file: string): Promise<ParsedAnnotations> {
  return parseAnnotations(await readFile(file, 'utf8'), file);
}

/** Parses QuPath GeoJSON text; `file` only names it in problems. */
export function parseAnnotations(text: string, file: string): ParsedAnnotations {
  const result: ParsedAnnotations = { annotations: [], problems: [], withoutArea: 0 };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    result.problems.push({ file, feature: null, message: `not JSON: ${(error as Error).message}` });
    return result;
  }
  const features = featureList(json);
  if (!features) {
    result.problems.push({ file, feature: null, message: 'neither a GeoJSON FeatureCollection nor an array of Features (as QuPath exports)' });
    return result;
  }
  features.forEach((feature, index) => {
    try {
      const annotation = readFeature(feature, index);
      if (annotation) result.annotations.push(annotation);
      else result.withoutArea++;
    } catch (error) {
      result.problems.push({ file, feature: index, message: (error as Error).message });
    }
  });
  return result;
}

/** Problems of annotations reaching outside a width x height slide (level-0 pixels). */
export function outsideSlide(annotations: readonly Annotation[], width: number, height: number, file: string): AnnotationProblem[] {
  return annotations
    .filter((a) => a.bbox[0] < 0 || a.bbox[1] < 0 || a.bbox[2] > width || a.bbox[3] > height)
    .map((a) => ({
      file,
      feature: a.index,
      message: `coordinates [${a.bbox.map((v) => Math.round(v)).join(', ')}] (minX, minY, maxX, maxY) reach outside the ${width}x${height} slide`,
    }));
}

function featureList(json: unknown): unknown[] | null {
  if (Array.isArray(json)) return json;
  if (isObject(json) && json.type === 'FeatureCollection' && Array.isArray(json.features)) return json.features;
  if (isObject(json) && json.type === 'Feature') return [json];
  return null;
}

function readFeature(feature: unknown, index: number): Annotation | null {
  if (!isObject(feature) || feature.type !== 'Feature') throw new Error('not a GeoJSON Feature');
  const properties = isObject(feature.properties) ? feature.properties : {};
  const polygons = geometryPolygons(feature.geometry);
  if (polygons === null) return null;
  if (polygons.length === 0) throw new Error('the geometry has no polygon');
  let area = 0;
  const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const rings of polygons) {
    rings.forEach((ring, r) => {
      const crossing = selfIntersection(ring);
      if (crossing) {
        throw new Error(
          `the polygon's ${r === 0 ? 'outer ring' : `hole ${r}`} crosses itself (edges at (${crossing[0].join(', ')}) and (${crossing[1].join(', ')})); ` +
            'fix it in QuPath (Objects > Annotations... > Simplify shape, or redraw)',
        );
      }
      for (const [x, y] of ring) {
        bbox[0] = Math.min(bbox[0], x);
        bbox[1] = Math.min(bbox[1], y);
        bbox[2] = Math.max(bbox[2], x);
        bbox[3] = Math.max(bbox[3], y);
      }
    });
    area += polygonArea(rings);
  }
  const { name, color } = classification(properties.classification);
  const objectType = typeof properties.objectType === 'string' ? properties.objectType : 'annotation';
  return { index, className: name, color, objectType, polygons, bbox, area };
}

/**
 * Area of one polygon [outer, ...holes]: the outer ring's less its holes'.
 * QuPath writes outer rings and holes in either orientation (GeoJSON says
 * outer counter-clockwise), so each ring counts by its absolute area.
 */
export function polygonArea(rings: readonly Ring[]): number {
  return rings.reduce((sum, ring, r) => sum + (r === 0 ? 1 : -1) * Math.abs(signedArea(ring)), 0);
}

/** [outer, ...holes] per polygon; null for geometries without area (points, lines). */
function geometryPolygons(geometry: unknown): Ring[][] | null {
  if (!isObject(geometry)) throw new Error('the Feature has no geometry');
  switch (geometry.type) {
    case 'Polygon':
      return [polygon(geometry.coordinates)];
    case 'MultiPolygon':
      if (!Array.isArray(geometry.coordinates)) throw new Error('MultiPolygon coordinates are not an array');
      return geometry.coordinates.map(polygon);
    case 'GeometryCollection': {
      if (!Array.isArray(geometry.geometries)) throw new Error('GeometryCollection has no geometries array');
      const parts = geometry.geometries.map(geometryPolygons).filter((p): p is Ring[][] => p !== null);
      return parts.length ? parts.flat() : null;
    }
    case 'Point':
    case 'MultiPoint':
    case 'LineString':
    case 'MultiLineString':
      return null;
    default:
      throw new Error(`unknown geometry type ${JSON.stringify(geometry.type)}`);
  }
}

function polygon(coordinates: unknown): Ring[] {
  if (!Array.isArray(coordinates) || coordinates.length === 0) throw new Error('Polygon coordinates are not an array of rings');
  return coordinates.map((ring, r) => {
    if (!Array.isArray(ring)) throw new Error(`ring ${r} is not an array of positions`);
    const points: Ring = ring.map((p, i) => {
      if (!Array.isArray(p) || p.length < 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number' || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
        throw new Error(`ring ${r}, position ${i} is ${JSON.stringify(p)}, not [x, y] numbers`);
      }
      return [p[0], p[1]];
    });
    const [first, last] = [points[0], points[points.length - 1]];
    // GeoJSON rings repeat their first position; close the few writers that do not
    if (points.length > 0 && (first[0] !== last[0] || first[1] !== last[1])) points.push([first[0], first[1]]);
    if (points.length < 4) throw new Error(`ring ${r} has ${points.length} positions; a polygon ring needs at least 4 (closed)`);
    return points;
  });
}

function classification(value: unknown): { name: string | null; color: [number, number, number] | null } {
  if (typeof value === 'string') return { name: value, color: null };
  if (!isObject(value)) return { name: null, color: null };
  const name = typeof value.name === 'string' ? value.name : null;
  if (Array.isArray(value.color) && value.color.length >= 3 && value.color.every((c) => typeof c === 'number')) {
    return { name, color: [value.color[0], value.color[1], value.color[2]] };
  }
  if (typeof value.colorRGB === 'number') {
    const packed = value.colorRGB >>> 0;
    return { name, color: [(packed >> 16) & 255, (packed >> 8) & 255, packed & 255] };
  }
  return { name, color: null };
}

/**
 * The first pair of edges of a closed ring that cross, or null. Edges that
 * only touch at a vertex do not count: traced masks touch themselves at
 * pixel corners, and the even-odd fill handles that. Collinear overlaps do
 * count. Sweep over edges sorted by their left end: O(n log n + crossings
 * tested), fine for QuPath's rings of thousands of vertices.
 */
export function selfIntersection(ring: Ring): [[number, number], [number, number]] | null {
  const n = ring.length - 1;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => left(ring, a) - left(ring, b));
  const active: number[] = [];
  for (const i of order) {
    const start = left(ring, i);
    for (let k = active.length - 1; k >= 0; k--) if (right(ring, active[k]) < start) active.splice(k, 1);
    for (const j of active) {
      const adjacent = Math.abs(i - j) === 1 || Math.abs(i - j) === n - 1;
      if (!adjacent && edgesCross(ring[i], ring[i + 1], ring[j], ring[j + 1])) {
        return [ring[Math.min(i, j)], ring[Math.max(i, j)]];
      }
    }
    active.push(i);
  }
  return null;
}

const left = (ring: Ring, i: number) => Math.min(ring[i][0], ring[i + 1][0]);
const right = (ring: Ring, i: number) => Math.max(ring[i][0], ring[i + 1][0]);

function orientation(a: [number, number], b: [number, number], c: [number, number]): number {
  return Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
}

/**
 * Whether segments ab and cd cross at a point inside both, or overlap along a
 * stretch; a vertex that only touches another edge is not a crossing.
 */
function edgesCross(a: [number, number], b: [number, number], c: [number, number], d: [number, number]): boolean {
  const o1 = orientation(a, b, c), o2 = orientation(a, b, d), o3 = orientation(c, d, a), o4 = orientation(c, d, b);
  if (o1 * o2 < 0 && o3 * o4 < 0) return true;
  if (o1 === 0 && o2 === 0) {
    // collinear: overlapping by more than a point
    const axis = a[0] !== b[0] ? 0 : 1;
    const lo = Math.max(Math.min(a[axis], b[axis]), Math.min(c[axis], d[axis]));
    const hi = Math.min(Math.max(a[axis], b[axis]), Math.max(c[axis], d[axis]));
    return hi > lo;
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
