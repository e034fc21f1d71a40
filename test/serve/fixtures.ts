/**
 * A folder to serve, as `patho report` leaves one: a 300x200 gray image with
 * a predicted mask and a ground truth (the same rectangle, x 75..225, y
 * 50..150: the middle half of each side), the same again with a ground truth
 * of half the size (which cannot be compared), an image without a mask, and,
 * beside the folder, a secret that no request may read, with symbolic links
 * to it from inside.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

export const WIDTH = 300;
export const HEIGHT = 200;
export const MASK = { left: 75, top: 50, width: 150, height: 100 };
export const SECRET = 'TOP-SECRET-patho-serve';

/** Writes the fixture under `tmp`; returns the folder to serve. */
export async function writeServedFolder(tmp: string): Promise<string> {
  const served = join(tmp, 'served');
  await mkdir(join(served, 'validation'), { recursive: true });
  const image = new Uint8Array(WIDTH * HEIGHT);
  const mask = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      image[y * WIDTH + x] = 90 + Math.round((60 * x) / WIDTH);
      const inside = x >= MASK.left && x < MASK.left + MASK.width && y >= MASK.top && y < MASK.top + MASK.height;
      mask[y * WIDTH + x] = inside ? 255 : 0;
    }
  }
  const gray = (data: Uint8Array) => sharp(data, { raw: { width: WIDTH, height: HEIGHT, channels: 1 } }).toColourspace('b-w').png();
  await gray(image).toFile(join(served, 'validation', 'sample.png'));
  await gray(mask).toFile(join(served, 'validation', 'sample_mask.png'));
  await gray(mask).toFile(join(served, 'validation', 'sample_truth.png'));
  await gray(image).toFile(join(served, 'validation', 'halved.png'));
  await gray(mask).toFile(join(served, 'validation', 'halved_mask.png'));
  await gray(mask).resize(WIDTH / 2, HEIGHT / 2, { kernel: 'nearest' }).toFile(join(served, 'validation', 'halved_truth.png'));
  await gray(image).toFile(join(served, 'plain.png'));
  await writeFile(join(tmp, 'secret.txt'), SECRET);
  await symlink(join(tmp, 'secret.txt'), join(served, 'link.txt'));
  await symlink(tmp, join(served, 'outside'));
  return served;
}
