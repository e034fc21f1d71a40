/**
 * Polygons of the regions of a label mask, holes included: the boundary
 * between a class's pixels and the rest is followed along pixel edges (crack
 * following), so the polygons enclose exactly the class's pixels. Regions are
 * 4-connected: pixels touching only at a corner are separate regions, and
 * where a region touches itself at a corner the trace turns to keep its own
 * pixel, so rings never cross. Pure: no addon.
 *
 * The mask is read in strips of rows (`StripTracer`), so a slide-sized mask
 * never has to be in memory: each strip is traced with one row of context
 * above and below, its boundary pieces that leave the strip are joined to
 * those of the neighbouring strips where they meet, and a ring is complete
 * when its pieces close. Memory: the strip, plus the outlines themselves
 * (which grow with the regions' boundary length, not with the mask's area).
 * The rings do not depend on the strip height: each starts at its
 * top-left-most vertex, and regions come in the order of those vertices.
 */

/** A ring of [x, y] pixel-corner coordinates, closed (the last point repeats the first). */
export type Ring = [number, number][];

/** A region: its outer ring (counter-clockwise in x-right, y-down numbers, i.e. positive area) and its holes (negative area). */
export interface Region {
  outer: Ring;
  holes: Ring[];
  /** pixels in the region */
  pixels: number;
}

// Headings east, south, west, north; a pixel's sides top, right, bottom, left
// are walked with the pixel on the right, heading the side's own index.
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/** Boundary pieces of one class not yet closed into rings: a run of vertices between the states it enters and leaves by. */
interface Piece {
  /** flat x, y of the vertices */
  points: number[];
  head: number;
  tail: number;
}

/**
 * Traces every nonzero class of a label mask given row by row, top to
 * bottom, in strips of `stripRows` rows. `classOf` maps a mask value to its
 * class (0: background); by default the value itself.
 */
export class StripTracer {
  private readonly buffer: Uint8Array; // rows s0 - 1 .. s1: context above, the strip, context below
  private readonly visited: Uint8Array; // bit s: side s of a strip pixel already walked
  private bufferStart = -1; // mask row of buffer row 0 (row -1 is the zeros above the mask)
  private rowsIn = 1;
  private received = 0;
  private readonly open = new Map<number, { byHead: Map<number, Piece>; byTail: Map<number, Piece> }>();
  private readonly rings = new Map<number, number[][]>();
  // the state a step arrives at
  private nx = 0;
  private ny = 0;
  private ns = 0;

  constructor(
    readonly width: number,
    readonly height: number,
    private readonly stripRows = 256,
    private readonly classOf: Uint8Array = Uint8Array.from({ length: 256 }, (_, v) => v),
  ) {
    if (!(stripRows >= 1)) throw new Error(`strips need at least one row, got ${stripRows}`);
    this.buffer = new Uint8Array((stripRows + 2) * width);
    this.visited = new Uint8Array(stripRows * width);
  }

  /** Adds `count` rows of `width` values each (row-major). */
  addRows(rows: Uint8Array, count: number): void {
    const w = this.width;
    for (let r = 0; r < count; r++) {
      if (this.received === this.height) throw new Error(`the mask has ${this.height} rows; more were given`);
      this.buffer.set(rows.subarray(r * w, (r + 1) * w), this.rowsIn * w);
      this.rowsIn++;
      this.received++;
      if (this.rowsIn === this.stripRows + 2) this.nextStrip();
    }
  }

  /** The regions of each class, after the last row. */
  finish(): Map<number, Region[]> {
    if (this.received !== this.height) throw new Error(`${this.received} of ${this.height} mask rows were given`);
    if (this.bufferStart + 1 < this.height) {
      this.buffer.fill(0, this.rowsIn * this.width, (this.rowsIn + 1) * this.width); // nothing below the mask
      this.rowsIn++;
      this.traceStrip(this.bufferStart + 1, this.height);
    }
    for (const [c, { byHead }] of this.open) {
      if (byHead.size) throw new Error(`class ${c}: ${byHead.size} outline pieces did not close`);
    }
    const regions = new Map<number, Region[]>();
    for (const c of [...this.rings.keys()].sort((a, b) => a - b)) regions.set(c, groupRings(this.rings.get(c)!));
    return regions;
  }

  /** Traces the full strip in the buffer and keeps its last row and the context below as the next strip's context above. */
  private nextStrip(): void {
    const s0 = this.bufferStart + 1;
    this.traceStrip(s0, s0 + this.stripRows);
    const w = this.width;
    this.buffer.copyWithin(0, this.stripRows * w, (this.stripRows + 2) * w);
    this.bufferStart += this.stripRows;
    this.rowsIn = 2;
  }

  private classAt(x: number, y: number): number {
    const row = y - this.bufferStart;
    if (x < 0 || x >= this.width || row < 0 || row >= this.rowsIn) return 0;
    return this.classOf[this.buffer[row * this.width + x]];
  }

  private isBoundary(x: number, y: number, s: number, c: number): boolean {
    const out = (s + 3) % 4;
    return this.classAt(x + DX[out], y + DY[out]) !== c;
  }

  /** The state after side s of pixel (x, y) of class c, in nx, ny, ns. */
  private step(x: number, y: number, s: number, c: number): void {
    const aheadX = x + DX[s], aheadY = y + DY[s];
    const out = (s + 3) % 4;
    if (this.classAt(aheadX, aheadY) !== c) {
      // turn right, around the same pixel
      this.nx = x;
      this.ny = y;
      this.ns = (s + 1) % 4;
    } else if (this.classAt(aheadX + DX[out], aheadY + DY[out]) !== c) {
      // straight on
      this.nx = aheadX;
      this.ny = aheadY;
      this.ns = s;
    } else {
      // turn left, onto the diagonal pixel
      this.nx = aheadX + DX[out];
      this.ny = aheadY + DY[out];
      this.ns = out;
    }
  }

  private key(x: number, y: number, s: number): number {
    return (y * this.width + x) * 4 + s;
  }

  /**
   * Rows s0 .. s1 - 1. Pieces start where a boundary enters the strip from
   * the context rows (computed from those rows: a step out of a context row
   * into the strip never looks beyond the buffer) and end where it leaves;
   * what is left unwalked are rings inside the strip.
   */
  private traceStrip(s0: number, s1: number): void {
    const w = this.width;
    this.visited.fill(0);
    for (const y of [s0 - 1, s1]) {
      for (let x = 0; x < w; x++) {
        const c = this.classAt(x, y);
        if (c === 0) continue;
        for (let s = 0; s < 4; s++) {
          if (!this.isBoundary(x, y, s, c)) continue;
          this.step(x, y, s, c);
          if (this.ny >= s0 && this.ny < s1) this.walk(this.nx, this.ny, this.ns, c, s0, s1, false);
        }
      }
    }
    const { buffer, classOf, visited } = this;
    for (let y = s0; y < s1; y++) {
      // strip rows always have a buffer row above and below
      const at = (y - this.bufferStart) * w;
      for (let x = 0; x < w; x++) {
        const c = classOf[buffer[at + x]];
        if (c === 0) continue;
        // most pixels are inside a region: all four neighbours of their class
        const [up, right, down, left] = [classOf[buffer[at - w + x]], x + 1 < w ? classOf[buffer[at + x + 1]] : 0, classOf[buffer[at + w + x]], x > 0 ? classOf[buffer[at + x - 1]] : 0];
        if (up === c && right === c && down === c && left === c) continue;
        // side s is a boundary where the neighbour across it (up, right, down, left) is another class
        if (up !== c && !(visited[(y - s0) * w + x] & 1)) this.walk(x, y, 0, c, s0, s1, true);
        if (right !== c && !(visited[(y - s0) * w + x] & 2)) this.walk(x, y, 1, c, s0, s1, true);
        if (down !== c && !(visited[(y - s0) * w + x] & 4)) this.walk(x, y, 2, c, s0, s1, true);
        if (left !== c && !(visited[(y - s0) * w + x] & 8)) this.walk(x, y, 3, c, s0, s1, true);
      }
    }
  }

  /**
   * Follows the boundary from a state until it leaves the strip (a piece) or,
   * for a ring inside the strip, comes back. A vertex belongs to the step
   * that turns there, so joined pieces list each vertex once.
   */
  private walk(x: number, y: number, s: number, c: number, s0: number, s1: number, closed: boolean): void {
    const start = this.key(x, y, s);
    const points: number[] = [];
    for (;;) {
      this.visited[(y - s0) * this.width + x] |= 1 << s;
      this.step(x, y, s, c);
      const { nx, ny, ns } = this;
      if (ns !== s) points.push(nx + (ns === 1 || ns === 2 ? 1 : 0), ny + (ns >= 2 ? 1 : 0));
      if (ny < s0 || ny >= s1) {
        if (closed) throw new Error('a boundary inside a strip left it'); // every piece that leaves was entered, and walked from there
        this.join(c, { points, head: start, tail: this.key(nx, ny, ns) });
        return;
      }
      x = nx;
      y = ny;
      s = ns;
      if (closed && this.key(x, y, s) === start) {
        this.addRing(c, points);
        return;
      }
    }
  }

  /** Joins a piece to those that end where it starts and start where it ends; a piece that meets itself is a ring. */
  private join(c: number, piece: Piece): void {
    let pieces = this.open.get(c);
    if (!pieces) this.open.set(c, (pieces = { byHead: new Map(), byTail: new Map() }));
    const { byHead, byTail } = pieces;
    const detach = (p: Piece) => {
      byHead.delete(p.head);
      byTail.delete(p.tail);
    };
    const before = byTail.get(piece.head);
    if (before) {
      detach(before);
      for (const v of piece.points) before.points.push(v);
      before.tail = piece.tail;
      piece = before;
    }
    const after = piece.head === piece.tail ? undefined : byHead.get(piece.tail);
    if (after) {
      detach(after);
      for (const v of after.points) piece.points.push(v);
      piece.tail = after.tail;
    }
    if (piece.head === piece.tail) this.addRing(c, piece.points);
    else {
      byHead.set(piece.head, piece);
      byTail.set(piece.tail, piece);
    }
  }

  private addRing(c: number, points: number[]): void {
    let rings = this.rings.get(c);
    if (!rings) this.rings.set(c, (rings = []));
    rings.push(points);
  }
}

/**
 * The vertex cycle started at its top-left-most vertex (where a ring touches
 * itself there, at the visit that leaves for the top-left-most next vertex),
 * and closed.
 */
function canonicalRing(points: number[]): Ring {
  const n = points.length / 2;
  const before = (i: number, j: number) => {
    for (let k = 0; k < 2; k++) {
      const a = ((i + k) % n) * 2, b = ((j + k) % n) * 2;
      if (points[a + 1] !== points[b + 1]) return points[a + 1] < points[b + 1];
      if (points[a] !== points[b]) return points[a] < points[b];
    }
    return false;
  };
  let first = 0;
  for (let i = 1; i < n; i++) if (before(i, first)) first = i;
  const ring: Ring = [];
  for (let k = 0; k <= n; k++) {
    const i = ((first + k) % n) * 2;
    ring.push([points[i], points[i + 1]]);
  }
  return ring;
}

/** Rings of one class as regions: each hole goes to the smallest outer ring around it, which is its region's own. */
function groupRings(flat: number[][]): Region[] {
  const rings = flat.map(canonicalRing).map((ring) => ({ ring, area: signedArea(ring), box: bounds(ring) }));
  const byCorner = (a: { ring: Ring }, b: { ring: Ring }) => a.ring[0][1] - b.ring[0][1] || a.ring[0][0] - b.ring[0][0];
  const outers = rings.filter((r) => r.area > 0).sort(byCorner);
  const regions: Region[] = outers.map((o) => ({ outer: o.ring, holes: [], pixels: o.area }));
  for (const hole of rings.filter((r) => r.area < 0).sort(byCorner)) {
    // the pixel to the right of the hole's first edge belongs to the hole's region; its centre is off every ring
    const [[ax, ay], [bx, by]] = hole.ring;
    const px = Math.min(ax, bx) + (ay === by ? 0.5 : ay < by ? -0.5 : 0.5);
    const py = Math.min(ay, by) + (ax === bx ? 0.5 : ax < bx ? 0.5 : -0.5);
    let owner = -1;
    outers.forEach((o, i) => {
      const [x0, y0, x1, y1] = o.box;
      if (px < x0 || px > x1 || py < y0 || py > y1 || (owner >= 0 && o.area >= outers[owner].area)) return;
      if (pointInRing(o.ring, px, py)) owner = i;
    });
    if (owner < 0) throw new Error(`a hole at (${ax}, ${ay}) lies in no outer ring`);
    regions[owner].holes.push(hole.ring);
    regions[owner].pixels += hole.area;
  }
  return regions;
}

/** [x0, y0, x1, y1] of a ring's vertices. */
export function bounds(ring: Ring): [number, number, number, number] {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of ring) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  return [x0, y0, x1, y1];
}

/** Even-odd test of a point that lies on no edge. */
export function pointInRing(ring: Ring, px: number, py: number): boolean {
  let odd = false;
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) odd = !odd;
  }
  return odd;
}

/** The regions where `mask[i] === value` (default: nonzero) in a width x height raster. */
export function traceRegions(mask: Uint8Array, width: number, height: number, value?: number, stripRows = Math.max(1, height)): Region[] {
  const classOf = Uint8Array.from({ length: 256 }, (_, v) => (value === undefined ? (v ? 1 : 0) : v === value ? 1 : 0));
  const tracer = new StripTracer(width, height, stripRows, classOf);
  tracer.addRows(mask, height);
  return tracer.finish().get(1) ?? [];
}

/** Shoelace area of a closed ring; positive when counter-clockwise in x-right, y-down numbers. */
export function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0; i + 1 < ring.length; i++) sum += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return sum / 2;
}
