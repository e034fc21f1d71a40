/** A tiny data set for report tests: gray images of one bright disc each, with 0/255 masks. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/** Writes `count` size x size images and masks as `<root>/images/N.png` and `<root>/masks/N.png`. */
export async function writeDiscs(root: string, count: number, size: number): Promise<void> {
  await mkdir(join(root, 'images'), { recursive: true });
  await mkdir(join(root, 'masks'), { recursive: true });
  for (let n = 0; n < count; n++) {
    const image = new Uint8Array(size * size);
    const mask = new Uint8Array(size * size);
    const cx = size * (0.3 + 0.08 * n);
    const r = size * (0.15 + 0.03 * n);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = (x - cx) ** 2 + (y - size / 2) ** 2 < r * r;
        image[y * size + x] = inside ? 190 : 60 + ((x * 7 + y * 13) % 25);
        mask[y * size + x] = inside ? 255 : 0;
      }
    }
    await gray(image, size).toFile(join(root, 'images', `${n}.png`));
    await gray(mask, size).toFile(join(root, 'masks', `${n}.png`));
  }
}

// sharp writes three channels unless told the image is gray
const gray = (data: Uint8Array, size: number) => sharp(data, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png();
