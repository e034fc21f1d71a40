/**
 * The post-processing of images (src/infer/postprocess.ts: objects under a
 * size removed, then holes under a size filled), done on a slide's traced
 * polygons instead of its mask. A slide's mask is written in bands and never
 * held whole, but its regions are (contours.ts), and they carry what the
 * rule needs: pixel counts, holes, and corners shared where regions touch.
 *
 * Objects follow the image rule exactly: they are 8-connected, so traced
 * regions (4-connected) that touch at a corner, which shows as a vertex both
 * rings pass through, count as one object. A hole is a hole ring of a
 * region; its size is the background it encloses (its area less the islands
 * directly inside it), as in images, where a hole is the background pixels
 * around such islands. Filling a hole merges those islands into the region
 * and keeps their own unfilled holes as holes of it. Holes differ from the
 * image rule only where the background inside a ring is pinched to a corner
 * (4-connected in images, one ring here).
 */
import type { PostProcessing } from '../infer/postprocess.js';
import { bounds, pointInRing, signedArea, type Region, type Ring } from './contours.js';

/** The regions of one class with `p` applied; sizes in pixels of the traced mask. Regions are not modified. */
export function cleanRegions(regions: readonly Region[], p: PostProcessing): Region[] {
  let kept = [...regions];
  if (p.minObjectPx > 0) kept = withoutSmallObjects(kept, p.minObjectPx);
  if (p.fillHolesPx > 0) kept = withSmallHolesFilled(kept, p.fillHolesPx);
  return kept;
}

/**
 * Regions whose 8-connected object has at least `minPx` pixels. Only regions
 * smaller than `minPx` can be removed, so only their corners are indexed; a
 * small region that shares a corner with a large one is kept with it.
 */
function withoutSmallObjects(regions: Region[], minPx: number): Region[] {
  const small = regions.map((r, i) => (r.pixels < minPx ? i : -1)).filter((i) => i >= 0);
  if (small.length === 0) return regions;
  const parent = new Map<number, number>(small.map((i) => [i, i]));
  const find = (i: number): number => {
    let root = i;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(i, root);
    return root;
  };
  // corner -> a small region through it; a second small region through the same corner joins its object
  const corners = new Map<number, number>();
  for (const i of small) {
    for (const ring of [regions[i].outer, ...regions[i].holes]) {
      for (const [x, y] of ring) {
        const key = cornerKey(x, y);
        const other = corners.get(key);
        if (other === undefined) corners.set(key, i);
        else parent.set(find(other), find(i));
      }
    }
  }
  const touchesLarge = new Set<number>();
  regions.forEach((r, i) => {
    if (r.pixels < minPx) return;
    for (const ring of [r.outer, ...r.holes]) {
      for (const [x, y] of ring) {
        const other = corners.get(cornerKey(x, y));
        if (other !== undefined) touchesLarge.add(find(other));
      }
    }
  });
  const objectPixels = new Map<number, number>();
  for (const i of small) objectPixels.set(find(i), (objectPixels.get(find(i)) ?? 0) + regions[i].pixels);
  return regions.filter((r, i) => r.pixels >= minPx || touchesLarge.has(find(i)) || objectPixels.get(find(i))! >= minPx);
}

/** A vertex as one number: coordinates are pixel corners of a mask far below 2^26 on a side. */
function cornerKey(x: number, y: number): number {
  return y * 67108864 + x;
}

/** A hole ring and what lies directly inside it. */
interface Hole {
  ring: Ring;
  /** owning region */
  region: number;
  box: [number, number, number, number];
  /** enclosed area, islands included */
  area: number;
  /** regions whose outer ring lies directly in this hole (inside no smaller hole) */
  islands: number[];
  filled: boolean;
}

/** Regions with every hole of fewer than `maxPx` background pixels filled; the islands in a filled hole join the region around them. */
function withSmallHolesFilled(regions: Region[], maxPx: number): Region[] {
  const holesOf: Hole[][] = regions.map((r, region) =>
    r.holes.map((ring) => ({ ring, region, box: bounds(ring), area: -signedArea(ring), islands: [], filled: false })),
  );
  const holes = holesOf.flat();
  if (holes.length === 0) return regions;
  // each region goes to the smallest hole around its top-left pixel (outer rings start at their top-left-most corner)
  const index = new HoleIndex(holes);
  regions.forEach((r, i) => {
    const [x, y] = r.outer[0];
    let inside: Hole | null = null;
    for (const h of index.at(x + 0.5, y + 0.5)) {
      if (h.region === i || (inside && h.area >= inside.area)) continue;
      if (pointInRing(h.ring, x + 0.5, y + 0.5)) inside = h;
    }
    inside?.islands.push(i);
  });
  for (const h of holes) {
    const islands = h.islands.reduce((sum, i) => sum + signedArea(regions[i].outer), 0);
    h.filled = h.area - islands < maxPx;
  }
  // an island in a filled hole joins the region around it
  const absorbed = new Set(holes.filter((h) => h.filled).flatMap((h) => h.islands));
  // the unfilled holes a region keeps: its own, and those of the islands its filled holes take in (and so on inward)
  const keptHoles = (region: number): Ring[] => holesOf[region].flatMap((h) => (h.filled ? h.islands.flatMap(keptHoles) : [h.ring]));
  return regions.flatMap((r, i) => {
    if (absorbed.has(i)) return [];
    if (!holesOf[i].some((h) => h.filled)) return [r];
    const kept = keptHoles(i);
    return [{ outer: r.outer, holes: kept, pixels: kept.reduce((sum, ring) => sum + signedArea(ring), signedArea(r.outer)) }];
  });
}

/** Holes by the grid cells their boxes cover, so finding the holes around a point does not scan them all. */
class HoleIndex {
  private static readonly CELL = 256;
  private readonly cells = new Map<number, Hole[]>();

  constructor(holes: Hole[]) {
    const c = HoleIndex.CELL;
    for (const h of holes) {
      const [x0, y0, x1, y1] = h.box;
      for (let cy = Math.floor(y0 / c); cy <= Math.floor(y1 / c); cy++) {
        for (let cx = Math.floor(x0 / c); cx <= Math.floor(x1 / c); cx++) {
          const key = cornerKey(cx, cy);
          const list = this.cells.get(key);
          if (list) list.push(h);
          else this.cells.set(key, [h]);
        }
      }
    }
  }

  /** The holes whose boxes hold the point. */
  at(x: number, y: number): Hole[] {
    const c = HoleIndex.CELL;
    return (this.cells.get(cornerKey(Math.floor(x / c), Math.floor(y / c))) ?? []).filter(
      ({ box: [x0, y0, x1, y1] }) => x >= x0 && x <= x1 && y >= y0 && y <= y1,
    );
  }
}
