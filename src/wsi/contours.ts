/**
 * Polygons of the regions of a binary mask, holes included: the boundary
 * between foreground and background pixels is followed along pixel edges
 * (crack following), so the polygons enclose exactly the foreground pixels.
 * Regions are 4-connected: pixels touching only at a corner are separate
 * regions, and where a region touches itself at a corner the trace turns to
 * keep its own pixel, so rings never cross. Pure: no addon.
 */

/** A ring of [x, y] pixel-corner coordinates, closed (the last point repeats the first). */
export type Ring = [number, number][];

/** A region: its outer ring (counter-clockwise in x-right, y-down numbers, i.e. positive area) and its holes (negative area). */
export interface Region {
  outer: Ring;
  holes: Ring[];
  /** foreground pixels in the region */
  pixels: number;
}

// Headings east, south, west, north; a pixel's sides top, right, bottom, left
// are walked with the pixel on the right, heading the side's own index.
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/** The regions where `mask[i] === value` (default: nonzero) in a width x height raster. */
export function traceRegions(mask: Uint8Array, width: number, height: number, value?: number): Region[] {
  const fg = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < width && y < height && (value === undefined ? mask[y * width + x] !== 0 : mask[y * width + x] === value);
  const { labels, sizes } = label4(fg, width, height);
  const regions: Region[] = sizes.map((pixels) => ({ outer: [], holes: [], pixels }));
  const visited = new Uint8Array(width * height); // bit s: side s already traced
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!fg(x, y)) continue;
      for (let s = 0; s < 4; s++) {
        if (visited[y * width + x] & (1 << s) || fg(x + DX[(s + 3) % 4], y + DY[(s + 3) % 4])) continue;
        const ring = traceRing(fg, visited, width, x, y, s);
        const region = regions[labels[y * width + x]];
        if (signedArea(ring) > 0) region.outer = ring;
        else region.holes.push(ring);
      }
    }
  }
  return regions;
}

/** Follows one boundary from side s of pixel (x, y) until it closes; marks the sides it walks. */
function traceRing(fg: (x: number, y: number) => boolean, visited: Uint8Array, width: number, x: number, y: number, s: number): Ring {
  const corner = (px: number, py: number, side: number): [number, number] => [px + (side === 1 || side === 2 ? 1 : 0), py + (side >= 2 ? 1 : 0)];
  const ring: Ring = [corner(x, y, s)];
  const [x0, y0, s0] = [x, y, s];
  do {
    visited[y * width + x] |= 1 << s;
    const aheadX = x + DX[s], aheadY = y + DY[s];
    const out = (s + 3) % 4;
    let next: number;
    if (!fg(aheadX, aheadY)) {
      next = (s + 1) % 4; // turn right, around the same pixel
    } else if (!fg(aheadX + DX[out], aheadY + DY[out])) {
      [x, y, next] = [aheadX, aheadY, s]; // straight on
    } else {
      [x, y, next] = [aheadX + DX[out], aheadY + DY[out], out]; // turn left, onto the diagonal pixel
    }
    if (next !== s) ring.push(corner(x, y, next));
    s = next;
  } while (x !== x0 || y !== y0 || s !== s0);
  // the trace ends on its first point when it started at a corner; otherwise
  // the start lies mid-edge and is dropped, so every vertex is a corner
  const last = ring[ring.length - 1];
  if (last[0] === ring[0][0] && last[1] === ring[0][1]) return ring;
  ring[0] = [last[0], last[1]];
  return ring;
}

/** Shoelace area of a closed ring; positive when counter-clockwise in x-right, y-down numbers. */
export function signedArea(ring: Ring): number {
  let sum = 0;
  for (let i = 0; i + 1 < ring.length; i++) sum += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return sum / 2;
}

/** 4-connected component labels (0-based) of the foreground, and the pixel count of each. */
function label4(fg: (x: number, y: number) => boolean, width: number, height: number): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(width * height).fill(-1);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < width * height; start++) {
    if (labels[start] !== -1 || !fg(start % width, Math.floor(start / width))) continue;
    const id = sizes.length;
    let count = 0;
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      count++;
      const x = i % width, y = (i - x) / width;
      for (let d = 0; d < 4; d++) {
        const nx = x + DX[d], ny = y + DY[d];
        const j = ny * width + nx;
        if (fg(nx, ny) && labels[j] === -1) {
          labels[j] = id;
          stack.push(j);
        }
      }
    }
    sizes.push(count);
  }
  return { labels, sizes };
}
