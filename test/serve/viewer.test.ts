import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { artifactPath, launchChromium } from './browser.js';
import { HEIGHT, MASK, WIDTH, writeServedFolder } from './fixtures.js';

let tmp: string;
let server: ChildProcess;
let url: string;
let browser: Browser;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-viewer-'));
  const served = await writeServedFolder(tmp);
  // the real command, on a port the system picks
  server = spawn(process.execPath, [resolve('bin/patho.js'), 'serve', '--port', '0', served], { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  for await (const chunk of server.stdout!) {
    printed += chunk;
    const match = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(printed);
    if (match) {
      url = match[1];
      break;
    }
  }
  assert.ok(url, `patho serve printed no address: ${printed}`);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  await rm(tmp, { recursive: true, force: true });
});

/** What the largest canvas of a view shows: pixel classes and the bounding boxes of the image and the overlay. */
interface CanvasSummary {
  drawn: number;
  gray: number;
  tinted: number;
  image: { left: number; top: number; right: number; bottom: number };
  overlay: { left: number; top: number; right: number; bottom: number };
  centre: number[];
}

function readCanvas(page: Page, view: string, tint: 'magenta' | 'green'): Promise<CanvasSummary> {
  return page.evaluate(
    ([view, tint]) => {
      const canvases = Array.from(document.querySelectorAll<HTMLCanvasElement>(`#${view} canvas`));
      const canvas = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
      const { data, width, height } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const box = () => ({ left: Infinity, top: Infinity, right: -Infinity, bottom: -Infinity });
      const summary = { drawn: 0, gray: 0, tinted: 0, image: box(), overlay: box(), centre: [] as number[] };
      const grow = (b: typeof summary.image, x: number, y: number) => {
        b.left = Math.min(b.left, x);
        b.top = Math.min(b.top, y);
        b.right = Math.max(b.right, x + 1);
        b.bottom = Math.max(b.bottom, y + 1);
      };
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 4;
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a === 0) continue;
          summary.drawn++;
          grow(summary.image, x, y);
          const tinted = tint === 'magenta' ? r - g > 40 && b - g > 40 : g - r > 40 && g - b > 20;
          if (tinted) {
            summary.tinted++;
            grow(summary.overlay, x, y);
          } else if (Math.abs(r - g) < 12 && Math.abs(g - b) < 12) summary.gray++;
        }
      }
      const c = (Math.floor(height / 2) * width + Math.floor(width / 2)) * 4;
      summary.centre = Array.from(data.subarray(c, c + 4));
      return summary;
    },
    [view, tint] as const,
  );
}

/** Polls the canvas until `ok` holds (tiles load and redraws happen a frame or more later). */
async function until(page: Page, view: string, tint: 'magenta' | 'green', ok: (s: CanvasSummary) => boolean, what: string): Promise<CanvasSummary> {
  let last: CanvasSummary | undefined;
  for (let tries = 0; tries < 100; tries++) {
    last = await readCanvas(page, view, tint);
    if (ok(last)) return last;
    await page.waitForTimeout(100);
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

/** The overlay covers the middle half of the image on each axis, as the mask does. */
function assertOverlayOnMask(s: CanvasSummary): void {
  const imageWidth = s.image.right - s.image.left;
  const imageHeight = s.image.bottom - s.image.top;
  assert.ok(Math.abs(imageWidth / imageHeight - WIDTH / HEIGHT) < 0.02, `image drawn ${imageWidth}x${imageHeight}`);
  const scale = imageWidth / WIDTH;
  const expected = {
    left: s.image.left + MASK.left * scale,
    top: s.image.top + MASK.top * scale,
    right: s.image.left + (MASK.left + MASK.width) * scale,
    bottom: s.image.top + (MASK.top + MASK.height) * scale,
  };
  for (const side of ['left', 'top', 'right', 'bottom'] as const) {
    assert.ok(Math.abs(s.overlay[side] - expected[side]) <= 2, `overlay ${side} at ${s.overlay[side]}, mask at ${expected[side]}`);
  }
}

test('patho serve in Chromium: image and overlay render, opacity slider, toggle and outline work, ground truth beside, zoom follows', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  await page.click('#items li[data-id="validation/sample"]');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, { timeout: 15_000 });

  // filled at the default 50%: magenta over the gray image, where the mask is
  const filled = await until(page, 'view-prediction', 'magenta', (s) => s.tinted > 1000 && s.gray > 1000, 'image and overlay drawn');
  assertOverlayOnMask(filled);
  assert.ok(filled.centre[0] > 150 && filled.centre[1] < 110, `centre pixel ${filled.centre} is tinted`);
  const truth = await until(page, 'view-truth', 'green', (s) => s.tinted > 1000, 'ground truth drawn');
  assertOverlayOnMask(truth);

  // the slider, moved with the keyboard as a user would: 0 hides the overlay, 100 paints it solid
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  assert.equal(await page.inputValue('#opacity'), '0');
  await until(page, 'view-prediction', 'magenta', (s) => s.tinted === 0 && s.gray > 1000, 'overlay hidden at opacity 0');
  await page.keyboard.press('End');
  const solid = await until(page, 'view-prediction', 'magenta', (s) => s.centre[0] === 255 && s.centre[1] === 0 && s.centre[2] === 255, 'solid at 100');
  assertOverlayOnMask(solid);

  // the toggle hides it whatever the opacity
  await page.uncheck('#overlay');
  await until(page, 'view-prediction', 'magenta', (s) => s.tinted === 0, 'overlay toggled off');
  await page.check('#overlay');

  // an outline covers the mask's edge only
  await page.selectOption('#style', 'outline');
  const outlined = await until(page, 'view-prediction', 'magenta', (s) => s.tinted > 0 && s.tinted < filled.tinted / 4, 'outline drawn');
  assertOverlayOnMask(outlined);

  await page.screenshot({ path: artifactPath('serve-viewer.png') });

  // zooming in one view zooms the other: both overlays grow alike
  const width = (s: CanvasSummary) => s.overlay.right - s.overlay.left;
  await page.click('#view-prediction div[title="Zoom in"]');
  await page.click('#view-prediction div[title="Zoom in"]');
  const zoomed = await until(page, 'view-prediction', 'magenta', (s) => width(s) > 1.5 * width(outlined), 'zoomed in');
  await until(page, 'view-truth', 'green', (s) => Math.abs(width(s) - width(zoomed)) <= 2, 'ground truth follows the zoom');
  assert.deepEqual(errors, []);
});
