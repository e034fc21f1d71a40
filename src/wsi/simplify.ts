/**
 * Douglas-Peucker simplification of traced outlines that keeps their
 * topology, as JTS's TopologyPreservingSimplifier does and further: a
 * stretch of a ring is replaced by a straight chord only when every vertex
 * of the stretch lies within the tolerance of the chord, the chord meets no
 * other edge (of any ring of the regions given) except at shared vertices,
 * and no other edge lies in the area between the stretch and the chord, so
 * no ring crosses another or itself, and a hole (or an island in it) never
 * changes sides. Each ring keeps at least three vertices that are not on one
 * line. A pixel centre that changes sides lies within the tolerance of the
 * traced outline. Pure: no addon.
 */
import type { Region, Ring } from './contours.js';

type Point = [number, number];

/** An edge of the current outlines: an original edge (to = from + 1) or a chord over vertices from .. to of its ring. */
interface Edge {
  a: Point;
  b: Point;
  ring: number;
  from: number;
  to: number;
  alive: boolean;
  seen: number;
}

/** Edges by the grid cells their bounding boxes cover. */
class EdgeGrid {
  private readonly cells = new Map<number, Edge[]>();
  private query = 0;

  constructor(private readonly cell: number) {}

  add(edge: Edge): void {
    this.forCells(edge.a, edge.b, (key) => {
      const list = this.cells.get(key);
      if (list) list.push(edge);
      else this.cells.set(key, [edge]);
    });
  }

  /** Each live edge whose cells meet the box of the two corners, once; stops when `visit` returns false. */
  every(p: Point, q: Point, visit: (edge: Edge) => boolean): boolean {
    const query = ++this.query;
    let ok = true;
    this.forCells(p, q, (key) => {
      for (const edge of this.cells.get(key) ?? []) {
        if (!ok || !edge.alive || edge.seen === query) continue;
        edge.seen = query;
        ok = visit(edge);
      }
    });
    return ok;
  }

  private forCells(p: Point, q: Point, f: (key: number) => void): void {
    const c = this.cell;
    const [x0, x1] = [Math.floor(Math.min(p[0], q[0]) / c), Math.floor(Math.max(p[0], q[0]) / c)];
    const [y0, y1] = [Math.floor(Math.min(p[1], q[1]) / c), Math.floor(Math.max(p[1], q[1]) / c)];
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) f(y * 2 ** 26 + x);
  }
}

/**
 * The regions with every ring simplified to within `tolerance` (in the
 * rings' units), all rings of all the regions kept apart from one another.
 * Regions of one class go in together; a tolerance of 0 returns them as they are.
 */
export function simplifyRegions(regions: readonly Region[], tolerance: number): Region[] {
  if (!(tolerance > 0)) return [...regions];
  const rings = regions.flatMap((r) => [r.outer, ...r.holes]);
  const grid = new EdgeGrid(Math.max(16, 4 * tolerance));
  const edges = rings.map((ring, r) =>
    ring.slice(0, -1).map((a, i): Edge => ({ a, b: ring[i + 1], ring: r, from: i, to: i + 1, alive: true, seen: 0 })),
  );
  for (const list of edges) for (const e of list) grid.add(e);
  const kept = rings.map((ring, r) => simplifyRing(ring, r, tolerance, grid, edges[r]));
  let next = 0;
  return regions.map((region) => ({
    outer: kept[next++],
    holes: region.holes.map(() => kept[next++]),
    pixels: region.pixels,
  }));
}

function simplifyRing(ring: Ring, r: number, tolerance: number, grid: EdgeGrid, ownEdges: Edge[]): Ring {
  const n = ring.length - 1;
  // three anchors not on one line: the first vertex, the one farthest from it, the one farthest from the line through both
  let far = 0;
  for (let i = 1; i < n; i++) if (distance2(ring[i], ring[0]) > distance2(ring[far], ring[0])) far = i;
  let third = 0;
  for (let i = 1; i < n; i++) if (Math.abs(orient(ring[0], ring[far], ring[i])) > Math.abs(orient(ring[0], ring[far], ring[third]))) third = i;
  const anchors = [...new Set([0, far, third, n])].sort((a, b) => a - b);
  const keep = new Uint8Array(n + 1).fill(1);
  for (let s = 0; s + 1 < anchors.length; s++) {
    const stack: [number, number][] = [[anchors[s], anchors[s + 1]]];
    while (stack.length) {
      const [i, j] = stack.pop()!;
      if (j - i < 2) continue;
      let worst = i + 1;
      let worstDistance = -1;
      for (let k = i + 1; k < j; k++) {
        const d = segmentDistance(ring[k], ring[i], ring[j]);
        if (d > worstDistance) [worst, worstDistance] = [k, d];
      }
      if (worstDistance <= tolerance && chordIsSafe(ring, r, i, j, grid)) {
        keep.fill(0, i + 1, j);
        for (let k = i; k < j; k++) ownEdges[k].alive = false;
        grid.add({ a: ring[i], b: ring[j], ring: r, from: i, to: j, alive: true, seen: 0 });
      } else {
        stack.push([worst, j], [i, worst]);
      }
    }
  }
  return ring.filter((_, i) => keep[i]);
}

/** Whether the chord from vertex i to vertex j of ring r may replace the stretch between them; see the module comment. */
function chordIsSafe(ring: Ring, r: number, i: number, j: number, grid: EdgeGrid): boolean {
  const a = ring[i], b = ring[j];
  if (a[0] === b[0] && a[1] === b[1]) return false;
  const replaced = (e: Edge) => e.ring === r && e.from >= i && e.to <= j;
  if (!grid.every(a, b, (e) => replaced(e) || !meetsBeyondSharedVertex(a, b, e.a, e.b))) return false;
  // the area between the stretch and the chord: no vertex or edge midpoint of the other edges strictly inside it
  const stretch = ring.slice(i, j + 1);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of stretch) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  return grid.every([x0, y0], [x1, y1], (e) => {
    if (replaced(e)) return true;
    const middle: Point = [(e.a[0] + e.b[0]) / 2, (e.a[1] + e.b[1]) / 2];
    return !strictlyInside(stretch, e.a) && !strictlyInside(stretch, e.b) && !strictlyInside(stretch, middle);
  });
}

/** Twice the signed area of the triangle a, b, c: exact for the integer and half-integer coordinates used here. */
function orient(a: Point, b: Point, c: Point): number {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

const same = (p: Point, q: Point) => p[0] === q[0] && p[1] === q[1];

/** Whether segments ab and cd share a point other than a vertex of both. */
function meetsBeyondSharedVertex(a: Point, b: Point, c: Point, d: Point): boolean {
  const o1 = orient(a, b, c), o2 = orient(a, b, d), o3 = orient(c, d, a), o4 = orient(c, d, b);
  if (o1 === 0 && o2 === 0) {
    // on one line: overlapping beyond a single point
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const t = (p: Point) => (p[0] - a[0]) * dx + (p[1] - a[1]) * dy;
    return Math.min(dx * dx + dy * dy, Math.max(t(c), t(d))) > Math.max(0, Math.min(t(c), t(d)));
  }
  if (o1 * o2 > 0 || o3 * o4 > 0) return false;
  if (o1 !== 0 && o2 !== 0 && o3 !== 0 && o4 !== 0) return true; // a proper crossing
  const meet = o1 === 0 ? c : o2 === 0 ? d : o3 === 0 ? a : b;
  return !((same(meet, a) || same(meet, b)) && (same(meet, c) || same(meet, d)));
}

/** Even-odd test of a point against the stretch closed by its chord; false on the boundary. */
function strictlyInside(polygon: Point[], p: Point): boolean {
  let odd = false;
  for (let k = 0; k < polygon.length; k++) {
    const u = polygon[k], v = polygon[(k + 1) % polygon.length];
    if (orient(u, v, p) === 0 && p[0] >= Math.min(u[0], v[0]) && p[0] <= Math.max(u[0], v[0]) && p[1] >= Math.min(u[1], v[1]) && p[1] <= Math.max(u[1], v[1])) {
      return false;
    }
    if (u[1] > p[1] !== v[1] > p[1]) {
      // p is left of the crossing: (p.x - u.x) * (v.y - u.y) < (p.y - u.y) * (v.x - u.x), signs by the edge's direction
      const left = (p[0] - u[0]) * (v[1] - u[1]) - (p[1] - u[1]) * (v[0] - u[0]);
      if (v[1] > u[1] ? left < 0 : left > 0) odd = !odd;
    }
  }
  return odd;
}

function distance2(p: Point, q: Point): number {
  return (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2;
}

/** Distance from p to the segment ab. */
function segmentDistance(p: Point, a: Point, b: Point): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const length2 = dx * dx + dy * dy;
  const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2));
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}
