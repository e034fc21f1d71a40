/**
 * What a run or prediction folder holds to look at: images with their
 * predicted masks, probability maps and ground truth, paired by name the way
 * patho writes them: `NAME.png` (or any image extension), `NAME_mask.png`,
 * `NAME_prob.png`, `NAME_truth.png` and `NAME_overlay.png` in one folder
 * (RUN_DIR/validation/ after `patho report`, the --out of `patho predict`).
 * For a slide, `NAME.svs` (or another OpenSlide format) is shown when it lies
 * in the folder, else `NAME_overlay.png`; a pyramidal `NAME_mask.tif` is
 * preferred to the subsampled `NAME_mask.png`.
 */
import { readdir } from 'node:fs/promises';
import { extname, join, posix } from 'node:path';
import { naturalCompare } from '../data/dataset.js';
import { PYRAMID_EXTENSIONS } from './tiles.js';

/** Files the viewer reads: what sharp decodes, and whole slides through OpenSlide. */
const VIEWABLE = new Set(['.png', '.jpg', '.jpeg', '.webp', ...PYRAMID_EXTENSIONS]);
const ROLES = ['mask', 'prob', 'truth', 'overlay'] as const;
type Role = (typeof ROLES)[number];

/** One picture to look at; paths are relative to the served folder, with `/` separators. */
export interface ViewItem {
  /** folder/NAME, unique */
  id: string;
  name: string;
  /** the picture shown under the overlays: the image, else the overlay or probability PNG of `patho predict` */
  image: string;
  mask?: string;
  truth?: string;
  prob?: string;
}

/**
 * The items under `root`, in natural order of folder and name, looking at
 * most `maxDepth` folders deep (hidden folders and node_modules skipped,
 * symbolic links not followed).
 */
export async function findItems(root: string, maxDepth = 3): Promise<ViewItem[]> {
  const groups = new Map<string, { folder: string; name: string; files: Partial<Record<Role | 'image', string>> }>();
  const visit = async (folder: string, depth: number): Promise<void> => {
    const entries = await readdir(join(root, folder), { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const relative = folder ? posix.join(folder, entry.name) : entry.name;
      if (entry.isDirectory()) {
        if (depth < maxDepth && entry.name !== 'node_modules') await visit(relative, depth + 1);
        continue;
      }
      const ext = extname(entry.name);
      if (!entry.isFile() || !VIEWABLE.has(ext.toLowerCase())) continue;
      const stem = entry.name.slice(0, -ext.length);
      const match = /^(.*)_(mask|prob|truth|overlay)$/.exec(stem);
      const [name, role] = match ? [match[1], match[2] as Role] : [stem, 'image' as const];
      const id = folder ? `${folder}/${name}` : name;
      const group = groups.get(id) ?? { folder, name, files: {} };
      // of two files in one role, the slide or pyramidal TIFF has the full resolution
      if (!group.files[role] || PYRAMID_EXTENSIONS.includes(ext.toLowerCase())) group.files[role] = relative;
      groups.set(id, group);
    }
  };
  await visit('', 0);
  const items: ViewItem[] = [];
  for (const [id, { name, files }] of groups) {
    const image = files.image ?? files.overlay ?? files.prob;
    if (!image) continue;
    items.push({ id, name, image, mask: files.mask, truth: files.truth, prob: files.prob });
  }
  return items.sort((a, b) => naturalCompare(a.id, b.id));
}
