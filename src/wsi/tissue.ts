/**
 * Tissue detection on a slide thumbnail, so that tiles of bare glass are not
 * run through the network: stained tissue is coloured, glass is grey-white,
 * so an Otsu threshold on saturation separates them; a morphological closing
 * then fills small gaps inside tissue and an opening drops dust specks.
 * Pure: no addon.
 */

export interface TissueOptions {
  /** Radius in thumbnail pixels of the square closing and opening. Default 2. */
  radius?: number;
  /** Saturation (0..255) below which a pixel is never tissue, whatever Otsu says. Default 15. */
  minSaturation?: number;
  /** Saturation above which a pixel is always tissue, for slides that are all tissue. Default 40. */
  maxThreshold?: number;
}

/** HSV saturation (0..255) of each pixel of packed RGB. */
export function saturation(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) {
    const r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
    const max = Math.max(r, g, b);
    out[i] = max === 0 ? 0 : Math.round((255 * (max - Math.min(r, g, b))) / max);
  }
  return out;
}

/** Otsu's threshold of 8-bit values: the t maximising the between-class variance of v <= t and v > t. */
export function otsuThreshold(values: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[v]++;
  const total = values.length;
  let sumAll = 0;
  for (let v = 0; v < 256; v++) sumAll += v * hist[v];
  let best = 0, bestVariance = -1, below = 0, sumBelow = 0;
  for (let t = 0; t < 256; t++) {
    below += hist[t];
    sumBelow += t * hist[t];
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const diff = sumBelow / below - (sumAll - sumBelow) / above;
    const variance = below * above * diff * diff;
    if (variance > bestVariance) {
      bestVariance = variance;
      best = t;
    }
  }
  return best;
}

/** Square max (dilate) or min (erode) filter of a binary mask, separable. */
export function morph(mask: Uint8Array, width: number, height: number, radius: number, op: 'dilate' | 'erode'): Uint8Array {
  const hit = op === 'dilate' ? 1 : 0;
  const pass = (src: Uint8Array, along: 'x' | 'y'): Uint8Array => {
    const out = new Uint8Array(src.length);
    const [n, m] = along === 'x' ? [width, height] : [height, width];
    const at = along === 'x' ? (i: number, j: number) => j * width + i : (i: number, j: number) => i * width + j;
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < n; i++) {
        let v = 1 - hit;
        for (let d = Math.max(0, i - radius); d <= Math.min(n - 1, i + radius); d++) {
          if (src[at(d, j)] === hit) {
            v = hit;
            break;
          }
        }
        out[at(i, j)] = v;
      }
    }
    return out;
  };
  return pass(pass(mask, 'x'), 'y');
}

/** 1 where the packed RGB picture shows tissue, 0 on glass. */
export function tissueMask(rgb: Uint8Array, width: number, height: number, options: TissueOptions = {}): Uint8Array {
  const radius = options.radius ?? 2;
  const s = saturation(rgb);
  const threshold = Math.max(options.minSaturation ?? 15, Math.min(otsuThreshold(s), options.maxThreshold ?? 40));
  let mask: Uint8Array = s.map((v) => (v > threshold ? 1 : 0));
  mask = morph(morph(mask, width, height, radius, 'dilate'), width, height, radius, 'erode');
  return morph(morph(mask, width, height, radius, 'erode'), width, height, radius, 'dilate');
}

/** Whether any tissue pixel of the mask falls in the rectangle (in mask pixels, clipped to the mask). */
export function anyTissue(mask: Uint8Array, width: number, height: number, x0: number, y0: number, x1: number, y1: number): boolean {
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(height, Math.ceil(y1)); y++) {
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(width, Math.ceil(x1)); x++) if (mask[y * width + x]) return true;
  }
  return false;
}
