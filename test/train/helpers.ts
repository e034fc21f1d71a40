/**
 * Training fixtures: a synthetic shapes data set written as PNGs, temporary
 * folders, and small comparisons of network weights.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

import type { UNet } from '../../src/models/unet.js';
import { random } from '../tensor/gradcheck.js';

/** A fresh temporary folder and a function that removes it. */
export async function tempDir(prefix = 'patho-train-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes one 8-bit gray PNG (sharp writes three channels unless told b-w). */
export async function writeGray(path: string, data: Uint8Array, size: number): Promise<void> {
  await sharp(data, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}

/**
 * `count` gray size x size images of 1-3 random discs and rectangles on a
 * noisy background, with their 0/255 masks, in `<root>/images` and
 * `<root>/masks` (names 0.png, 1.png, ...). Shapes are brighter than the
 * background on average but both are noisy and the brightness of each shape
 * varies, so a single threshold of the raw pixel does not solve it cleanly.
 */
export async function writeShapes(root: string, options: { count: number; size: number; seed: number }): Promise<void> {
  const { count, size, seed } = options;
  const next = random(seed);
  await mkdir(join(root, 'images'), { recursive: true });
  await mkdir(join(root, 'masks'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const mask = new Uint8Array(size * size);
    const brightness = new Float64Array(size * size).fill(70);
    const shapes = 1 + Math.floor(next() * 3);
    for (let s = 0; s < shapes; s++) {
      const level = 150 + next() * 60;
      const cx = size * (0.2 + 0.6 * next());
      const cy = size * (0.2 + 0.6 * next());
      const r = size * (0.1 + 0.12 * next());
      const disc = next() < 0.5;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const inside = disc ? (x - cx) ** 2 + (y - cy) ** 2 <= r * r : Math.abs(x - cx) <= r && Math.abs(y - cy) <= 0.7 * r;
          if (inside) {
            mask[y * size + x] = 255;
            brightness[y * size + x] = level;
          }
        }
      }
    }
    const image = Uint8Array.from(brightness, (b) => Math.max(0, Math.min(255, Math.round(b + (next() - 0.5) * 90))));
    await writeGray(join(root, 'images', `${i}.png`), image, size);
    await writeGray(join(root, 'masks', `${i}.png`), mask, size);
  }
}

/** Every parameter and buffer of `net`, by state_dict name, as float64 values. */
export function weightsOf(net: UNet): Map<string, Float64Array> {
  return new Map([...net.stateDict()].map(([name, t]) => [name, Float64Array.from(t.toArray() as ArrayLike<number>, Number)]));
}

/** The largest absolute difference between two sets of weights (which must have the same names). */
export function largestDifference(a: Map<string, Float64Array>, b: Map<string, Float64Array>): { name: string; value: number } {
  let worst = { name: '', value: 0 };
  if ([...a.keys()].join() !== [...b.keys()].join()) throw new Error('the two networks have different parameter names');
  for (const [name, values] of a) {
    const other = b.get(name)!;
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(values[i] - other[i]);
      if (!(d <= worst.value)) worst = { name, value: d };
    }
  }
  return worst;
}
