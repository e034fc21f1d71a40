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
/** Script errors and failed requests of the page. */
const failures: string[] = [];

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
  /** canvas pixels, and the mean red value of the drawn ones */
  area: number;
  meanRed: number;
}

function readCanvas(page: Page, view: string, tint: 'magenta' | 'green'): Promise<CanvasSummary> {
  return page.evaluate(
    ([view, tint]) => {
      const canvases = Array.from(document.querySelectorAll<HTMLCanvasElement>(`#${view} canvas`));
      const canvas = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
      const { data, width, height } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const box = () => ({ left: Infinity, top: Infinity, right: -Infinity, bottom: -Infinity });
      const summary = { drawn: 0, gray: 0, tinted: 0, image: box(), overlay: box(), centre: [] as number[], area: width * height, meanRed: 0 };
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
          summary.meanRed += r;
          grow(summary.image, x, y);
          const tinted = tint === 'magenta' ? r - g > 40 && b - g > 40 : g - r > 40 && g - b > 20;
          if (tinted) {
            summary.tinted++;
            grow(summary.overlay, x, y);
          } else if (Math.abs(r - g) < 12 && Math.abs(g - b) < 12) summary.gray++;
        }
      }
      summary.meanRed /= Math.max(1, summary.drawn);
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
  assert.fail(`${what}: ${overlayOffMask(last!) ?? ''} ${JSON.stringify(last)} ${JSON.stringify(failures)}`);
}

/** Null when the overlay covers the middle half of the image on each axis, as the mask does; else what differs. */
function overlayOffMask(s: CanvasSummary): string | null {
  const imageWidth = s.image.right - s.image.left;
  const imageHeight = s.image.bottom - s.image.top;
  // the whole image is in view, at its aspect ratio
  if (Math.abs(imageWidth / imageHeight - WIDTH / HEIGHT) > 0.02) return `image drawn ${imageWidth}x${imageHeight}`;
  const scale = imageWidth / WIDTH;
  const expected = {
    left: s.image.left + MASK.left * scale,
    top: s.image.top + MASK.top * scale,
    right: s.image.left + (MASK.left + MASK.width) * scale,
    bottom: s.image.top + (MASK.top + MASK.height) * scale,
  };
  for (const side of ['left', 'top', 'right', 'bottom'] as const) {
    if (Math.abs(s.overlay[side] - expected[side]) > 2) return `overlay ${side} at ${s.overlay[side]}, mask at ${expected[side]}`;
  }
  return null;
}

const onMask = (s: CanvasSummary) => overlayOffMask(s) === null;

test('patho serve in Chromium: image and overlay render, opacity slider, toggle and outline work, ground truth beside, zoom follows', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('requestfailed', (request) => failures.push(`${request.failure()?.errorText} ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(url);
  await page.click('#items li[data-id="validation/sample"]');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, { timeout: 15_000 });

  // filled at the default 50%: magenta over the gray image, where the mask is
  const filled = await until(page, 'view-prediction', 'magenta', (s) => s.tinted > 1000 && s.gray > 1000 && onMask(s), 'image and overlay drawn');
  assert.ok(filled.centre[0] > 150 && filled.centre[1] < 110, `centre pixel ${filled.centre} is tinted`);
  await until(page, 'view-truth', 'green', (s) => s.tinted > 1000 && onMask(s), 'ground truth drawn');

  // the slider, moved with the keyboard as a user would: 0 hides the overlay, 100 paints it solid
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  assert.equal(await page.inputValue('#opacity'), '0');
  await until(page, 'view-prediction', 'magenta', (s) => s.tinted === 0 && s.gray > 1000, 'overlay hidden at opacity 0');
  await page.keyboard.press('End');
  await until(page, 'view-prediction', 'magenta', (s) => s.centre[0] === 255 && s.centre[1] === 0 && s.centre[2] === 255 && onMask(s), 'solid at 100');

  // the toggle hides it whatever the opacity
  await page.uncheck('#overlay');
  await until(page, 'view-prediction', 'magenta', (s) => s.tinted === 0, 'overlay toggled off');
  await page.check('#overlay');

  // an outline covers the mask's edge only
  await page.selectOption('#style', 'outline');
  const outlined = await until(page, 'view-prediction', 'magenta', (s) => s.tinted > 0 && s.tinted < filled.tinted / 4 && onMask(s), 'outline drawn');

  await page.screenshot({ path: artifactPath('serve-viewer.png') });

  // zooming in one view zooms the other: without overlays both show the same part of the image
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  await page.click('#view-prediction div[title="Zoom in"]');
  let views: CanvasSummary[] = [];
  for (let tries = 0; tries < 100; tries++) {
    views = [await readCanvas(page, 'view-prediction', 'magenta'), await readCanvas(page, 'view-truth', 'green')];
    const [prediction, truth] = views;
    // the image fills both views (zoomed in past the fit) and they show the same pixels
    if (views.every((v) => v.drawn === v.area && v.tinted === 0) && Math.abs(prediction.meanRed - truth.meanRed) < 1) break;
    await page.waitForTimeout(100);
  }
  assert.ok(views.every((v) => v.drawn === v.area), `zoomed in: ${JSON.stringify(views)}`);
  assert.ok(Math.abs(views[0].meanRed - views[1].meanRed) < 1, `the ground truth follows the zoom: ${JSON.stringify(views)}`);

  // an image without ground truth has no second view
  await page.click('#items li[data-id="plain"]');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  assert.equal(await page.isVisible('#view-truth'), false);
  assert.equal(await page.textContent('#prediction-title'), 'plain (no mask)');
  assert.deepEqual(failures, []);
});
