import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { AGREEMENT_COLOUR, PREDICTION_COLOUR } from '../../src/report/palette.js';
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

/** The overlay colours told apart from gray: the prediction's yellow, and the greens of the ground truth and of agreement. */
type Tint = 'yellow' | 'green';

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

function readCanvas(page: Page, view: string, tint: Tint): Promise<CanvasSummary> {
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
          const tinted = tint === 'yellow' ? r - b > 40 && g - b > 40 : g - r > 40 && g - b > 20;
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
async function until(page: Page, view: string, tint: Tint, ok: (s: CanvasSummary) => boolean, what: string): Promise<CanvasSummary> {
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
const sameColour = (rgba: number[], rgb: readonly number[]) => rgb.every((c, i) => rgba[i] === c) && rgba[3] === 255;

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

  // filled at the default 50%: yellow over the gray image, where the mask is
  const filled = await until(page, 'view-prediction', 'yellow', (s) => s.tinted > 1000 && s.gray > 1000 && onMask(s), 'image and overlay drawn');
  assert.ok(filled.centre[0] - filled.centre[2] > 80 && filled.centre[1] - filled.centre[2] > 80, `centre pixel ${filled.centre} is tinted`);
  await until(page, 'view-truth', 'green', (s) => s.tinted > 1000 && onMask(s), 'ground truth drawn');

  // the slider, moved with the keyboard as a user would: 0 hides the overlay, 100 paints it solid
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  assert.equal(await page.inputValue('#opacity'), '0');
  await until(page, 'view-prediction', 'yellow', (s) => s.tinted === 0 && s.gray > 1000, 'overlay hidden at opacity 0');
  await page.keyboard.press('End');
  await until(page, 'view-prediction', 'yellow', (s) => sameColour(s.centre, PREDICTION_COLOUR) && onMask(s), 'solid at 100');

  // the toggle hides it whatever the opacity
  await page.uncheck('#overlay');
  await until(page, 'view-prediction', 'yellow', (s) => s.tinted === 0, 'overlay toggled off');
  await page.check('#overlay');

  // an outline covers the mask's edge only
  await page.selectOption('#style', 'outline');
  const outlined = await until(page, 'view-prediction', 'yellow', (s) => s.tinted > 0 && s.tinted < filled.tinted / 4 && onMask(s), 'outline drawn');

  await page.screenshot({ path: artifactPath('serve-viewer.png') });

  // zooming in one view zooms the other: without overlays both show the same part of the image
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  await page.click('#view-prediction div[title="Zoom in"]');
  let views: CanvasSummary[] = [];
  for (let tries = 0; tries < 100; tries++) {
    views = [await readCanvas(page, 'view-prediction', 'yellow'), await readCanvas(page, 'view-truth', 'green')];
    const [prediction, truth] = views;
    // the image fills both views (zoomed in past the fit) and they show the same pixels
    if (views.every((v) => v.drawn === v.area && v.tinted === 0) && Math.abs(prediction.meanRed - truth.meanRed) < 1) break;
    await page.waitForTimeout(100);
  }
  assert.ok(views.every((v) => v.drawn === v.area), `zoomed in: ${JSON.stringify(views)}`);
  assert.ok(Math.abs(views[0].meanRed - views[1].meanRed) < 1, `the ground truth follows the zoom: ${JSON.stringify(views)}`);

  // agreement, on one image: one view, green where truth and prediction agree (here everywhere on the mask), the image elsewhere
  await page.keyboard.press('End');
  await page.selectOption('#style', 'fill');
  await page.selectOption('#compare', 'agreement');
  await until(page, 'view-prediction', 'green', (s) => sameColour(s.centre, AGREEMENT_COLOUR) && s.gray > 1000 && onMask(s), 'agreement drawn');
  await until(page, 'view-prediction', 'yellow', (s) => s.tinted === 0, 'no prediction colour in the agreement view');
  assert.equal(await page.isVisible('#view-truth'), false);
  assert.equal(await page.isVisible('#legend'), true);
  assert.equal(await page.textContent('#prediction-title'), 'prediction and ground truth: sample');
  await page.screenshot({ path: artifactPath('serve-viewer-agreement.png') });
  // a ground truth of another size cannot be compared: the status says why
  await page.click('#items li[data-id="validation/halved"]');
  await page.waitForFunction(() => /^cannot draw the overlay: /.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 15_000 });
  assert.equal(failures.filter((f) => f.startsWith('400 ') && f.includes('halved_mask.png.dzi')).length, 1, JSON.stringify(failures));
  failures.length = 0;
  await page.click('#items li[data-id="validation/sample"]');
  await page.selectOption('#compare', 'side-by-side');
  await until(page, 'view-truth', 'green', (s) => s.tinted > 1000 && onMask(s), 'ground truth beside again');
  assert.equal(await page.isVisible('#legend'), false);

  // an image without ground truth has no second view, and nothing to compare
  await page.click('#items li[data-id="plain"]');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  assert.equal(await page.isVisible('#view-truth'), false);
  assert.equal(await page.textContent('#prediction-title'), 'plain (no mask)');
  assert.equal(await page.isDisabled('#compare'), true);
  assert.deepEqual(failures, []);
});
