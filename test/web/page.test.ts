/**
 * The browser page in Chromium (WebAssembly; headless Chromium has no GPU
 * adapter), as a user meets it: from the `patho serve` viewer's "run in the
 * browser" link, and as the static site of `patho export --format web` on a
 * plain static server. A membrane image is picked and a GlaS image dropped;
 * the mask, probabilities and GeoJSON the page offers are compared with
 * `patho predict` on the same checkpoint and image: at most 0.1% of mask
 * pixels differ and the probabilities within 2/255.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR, PREDICTION_COLOUR, type Rgb } from '../../src/report/palette.js';
import { maskToGeoJson } from '../../src/wsi/geojson.js';
import { updateCheckpointMeta } from '../../src/train/checkpoint.js';
import { artifactPath, launchChromium } from '../serve/browser.js';

const FIXTURES = 'test/fixtures/web';
const MEMBRANE = 'data/membrane/test/images/0.png';
const GLAS = join(FIXTURES, 'glas.png');

let tmp: string;
let server: ChildProcess;
let url: string;
let browser: Browser;

const predicted = new Map<string, string>();

/** `patho predict` of `image` with the checkpoint `model` (once): the folder with NAME_mask.png, NAME_prob.png, NAME.geojson. */
function predict(model: string, image: string): string {
  const key = `${model} ${image}`;
  const out = join(tmp, `predict-${predicted.size}`);
  if (predicted.has(key)) return predicted.get(key)!;
  const r = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', model, '--out', out, '--probabilities', '--format', 'png,geojson', '--threads', '1', image], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  predicted.set(key, out);
  return out;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-web-'));
  // a folder as `patho serve` would show it: two runs, each with its checkpoint
  for (const name of ['gray', 'rgb']) {
    await mkdir(join(tmp, 'served', name), { recursive: true });
    await copyFile(join(FIXTURES, `${name}.pt`), join(tmp, 'served', name, 'model.pt'));
  }
  server = spawn(process.execPath, [resolve('bin/patho.js'), 'serve', '--port', '0', join(tmp, 'served')], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  await rm(tmp, { recursive: true, force: true });
});

/** A page that records script errors, failed requests and every URL it asked for. */
async function openPage(): Promise<{ page: Page; failures: string[]; requested: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  const failures: string[] = [];
  const requested: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('requestfailed', (request) => {
    // the page cancelling its own superseded picture (an object URL revoked or replaced while the viewer still loads it) is not a failure
    if (request.url().startsWith('blob:') && request.failure()?.errorText === 'net::ERR_ABORTED') return;
    failures.push(`${request.failure()?.errorText} ${request.url()}`);
  });
  page.on('request', (request) => requested.push(request.url()));
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  return { page, failures, requested };
}

/** Waits for the page to finish a run; its status line. */
async function finished(page: Page): Promise<string> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 120_000 });
  const status = (await page.textContent('#status')) ?? '';
  assert.equal(await page.getAttribute('body', 'data-state'), 'done', status);
  return status;
}

/** Drops `file` on the view as a user dragging it from a file manager would. */
async function dropFile(page: Page, file: string): Promise<void> {
  const base64 = (await readFile(file)).toString('base64');
  const dataTransfer = await page.evaluateHandle(
    ([data, name]) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], name, { type: 'image/png' }));
      return transfer;
    },
    [base64, file.split('/').pop()!] as const,
  );
  await page.dispatchEvent('#view', 'dragover', { dataTransfer });
  await page.dispatchEvent('#view', 'drop', { dataTransfer });
}

/** Saves the page's three downloads into `dir`; their file names. */
async function download(page: Page, dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const id of ['download-mask', 'download-prob', 'download-geojson']) {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(`#${id}`)]);
    await file.saveAs(join(dir, file.suggestedFilename()));
    names.push(file.suggestedFilename());
  }
  return names;
}

async function gray(path: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { channels } = await sharp(path).metadata();
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: channels! };
}

/** The page's files against `patho predict`'s: masks, probabilities, and the GeoJSON of the page's own mask. */
async function compareWithPredict(pageDir: string, predictDir: string, name: string): Promise<string> {
  const [mask, expectedMask, prob, expectedProb] = await Promise.all([
    gray(join(pageDir, `${name}_mask.png`)),
    gray(join(predictDir, `${name}_mask.png`)),
    gray(join(pageDir, `${name}_prob.png`)),
    gray(join(predictDir, `${name}_prob.png`)),
  ]);
  // one channel, as patho predict writes it
  assert.deepEqual([mask.width, mask.height, mask.channels, prob.channels], [expectedMask.width, expectedMask.height, 1, 1]);
  let differing = 0;
  let foreground = 0;
  let largest = 0;
  for (let i = 0; i < mask.data.length; i++) {
    if (mask.data[i] !== expectedMask.data[i]) differing++;
    if (expectedMask.data[i]) foreground++;
    largest = Math.max(largest, Math.abs(prob.data[i] - expectedProb.data[i]));
  }
  const pixels = mask.data.length;
  // the fixture models put about half the pixels in the foreground, so equal masks say something
  assert.ok(foreground > pixels / 4 && foreground < (3 * pixels) / 4, `${name}: ${foreground} of ${pixels} foreground pixels`);
  assert.ok(differing <= pixels / 1000, `${name}: ${differing} of ${pixels} mask pixels differ from patho predict`);
  assert.ok(largest <= 2, `${name}: probabilities differ by up to ${largest}/255`);
  const geojson = JSON.parse(await readFile(join(pageDir, `${name}.geojson`), 'utf8'));
  const labels = Uint8Array.from(mask.data, (v) => (v ? 1 : 0));
  assert.deepEqual(geojson, JSON.parse(JSON.stringify(maskToGeoJson(labels, mask.width, mask.height))), `${name}: the GeoJSON traces the page's mask`);
  return `${name}: ${differing} of ${pixels} mask pixels differ from patho predict, probabilities by at most ${largest}/255`;
}

/** Pixels in the view's canvas tinted by the prediction's yellow: the overlay (red and green well above blue). */
function overlayPixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvases = Array.from(document.querySelectorAll<HTMLCanvasElement>('#view canvas'));
    const canvas = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let tinted = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i] - data[i + 2] > 40 && data[i + 1] - data[i + 2] > 40) tinted++;
    return tinted;
  });
}

/** How many pixels of the view's canvas have exactly each of `colours` (opaque). */
function colourCounts(page: Page, colours: readonly Rgb[]): Promise<number[]> {
  return page.evaluate((colours) => {
    const canvases = Array.from(document.querySelectorAll<HTMLCanvasElement>('#view canvas'));
    const canvas = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    const counts = colours.map(() => 0);
    for (let i = 0; i < data.length; i += 4) {
      const k = colours.findIndex(([r, g, b]) => data[i] === r && data[i + 1] === g && data[i + 2] === b && data[i + 3] === 255);
      if (k >= 0) counts[k]++;
    }
    return counts;
  }, colours);
}

async function untilOverlay(page: Page, ok: (tinted: number) => boolean, what: string): Promise<number> {
  let tinted = -1;
  for (let tries = 0; tries < 100; tries++) {
    tinted = await overlayPixels(page);
    if (ok(tinted)) return tinted;
    await page.waitForTimeout(100);
  }
  assert.fail(`${what}: ${tinted} overlay pixels`);
}

test('patho serve: "run in the browser" beside each model; a picked membrane image and a dropped GlaS image segmented as patho predict does', async (t) => {
  const { page, failures, requested } = await openPage();
  await page.goto(url);
  await page.waitForSelector('#models li');
  const links = await page.$$eval('#models li', (items) => items.map((li) => [li.textContent, li.querySelector('a')?.getAttribute('href')]));
  assert.deepEqual(links, [
    ['gray/model.pt run in the browser', '/browser/run/gray/model.pt'],
    ['rgb/model.pt run in the browser', '/browser/run/rgb/model.pt'],
  ]);

  await page.click('#models li:first-child a');
  await page.waitForSelector('#card');
  assert.match((await page.textContent('#card'))!, /segmentsforegroundinputgray imagesthreshold0\.5/);
  // cross-origin isolated, so WebAssembly may use threads
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  await page.setInputFiles('#file', MEMBRANE);
  const status = await finished(page);
  assert.match(status, /^WebAssembly \(\d+ threads?\): 1 tile \(512x512\) in [\d.]+ s, [\d.]+ s per tile; model loaded in [\d.]+ s$/);
  assert.equal(await page.$eval('#progress', (p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max].join('/')), '1/1');
  const pageDir = join(tmp, 'page-gray');
  await mkdir(pageDir);
  assert.deepEqual(await download(page, pageDir), ['0_mask.png', '0_prob.png', '0.geojson']);
  t.diagnostic(await compareWithPredict(pageDir, predict(join(FIXTURES, 'gray.pt'), MEMBRANE), '0'));

  // the overlay lies over the image; the slider fades it out and back
  const shown = await untilOverlay(page, (n) => n > 1000, 'overlay drawn at 50%');
  await page.focus('#opacity');
  await page.keyboard.press('Home');
  await untilOverlay(page, (n) => n === 0, 'overlay hidden at opacity 0');
  await page.keyboard.press('End');
  await untilOverlay(page, (n) => n >= shown / 2, 'overlay back at 100');
  // solid at 100: the prediction's colour itself
  assert.ok((await colourCounts(page, [PREDICTION_COLOUR]))[0] > 1000, 'the prediction in PREDICTION_COLOUR');

  // a ground truth (the left half of the image) turns the overlay into the agreement, in the shares the masks give
  const truth = join(tmp, 'membrane-truth.png');
  const [truthWidth, truthHeight] = [512, 512];
  const truthMask = Uint8Array.from({ length: truthWidth * truthHeight }, (_, i) => (i % truthWidth < truthWidth / 2 ? 255 : 0));
  await sharp(truthMask, { raw: { width: truthWidth, height: truthHeight, channels: 1 } }).png().toFile(truth);
  const predictedMask = await gray(join(pageDir, '0_mask.png'));
  const expected = [0, 0, 0];
  for (let i = 0; i < truthMask.length; i++) {
    if (truthMask[i] && predictedMask.data[i]) expected[0]++;
    else if (truthMask[i]) expected[1]++;
    else if (predictedMask.data[i]) expected[2]++;
  }
  await page.setInputFiles('#truth', truth);
  const comparison = [AGREEMENT_COLOUR, MISS_COLOUR, FALSE_ALARM_COLOUR, PREDICTION_COLOUR];
  let counts: number[] = [];
  for (let tries = 0; tries < 100; tries++) {
    counts = await colourCounts(page, comparison);
    if (counts[3] === 0 && counts[0] > 0) break;
    await page.waitForTimeout(100);
  }
  assert.equal(counts[3], 0, `no pixel left in the prediction's colour: ${counts}`);
  const shares = (n: number[]) => n.slice(0, 3).map((v) => v / (n[0] + n[1] + n[2]));
  // the view scales the 512x512 overlay by nearest neighbour: shares move by a few rows and columns at most
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(shares(counts)[k] - shares(expected)[k]) < 0.02, `shares ${shares(counts)} on the canvas, ${shares(expected)} in the masks`);
  assert.equal(await page.isVisible('#legend'), true);
  await page.screenshot({ path: artifactPath('browser-page-agreement.png') });

  // a ground truth of another size is not compared, and the page says why
  const small = join(tmp, 'small-truth.png');
  await sharp(Buffer.alloc(64 * 48, 255), { raw: { width: 64, height: 48, channels: 1 } }).png().toFile(small);
  await page.setInputFiles('#truth', small);
  await page.waitForFunction(() => document.getElementById('truth-note')?.textContent !== '');
  assert.equal(await page.textContent('#truth-note'), 'the ground truth is 64x48, the image 512x512: not compared');
  assert.equal(await page.isVisible('#legend'), false);
  await page.keyboard.press('PageDown');

  // the GlaS model's page, the image dropped on it: 4 tiles of 512 blended
  await page.goto(`${url}browser/run/rgb/model.pt`);
  await dropFile(page, GLAS);
  assert.match(await finished(page), /: 4 tiles \(600x530\)/);
  const glasDir = join(tmp, 'page-rgb');
  await mkdir(glasDir);
  await download(page, glasDir);
  t.diagnostic(await compareWithPredict(glasDir, predict(join(FIXTURES, 'rgb.pt'), GLAS), 'glas'));
  await untilOverlay(page, (n) => n > 1000, 'GlaS overlay drawn');
  await page.screenshot({ path: artifactPath('browser-page.png') });

  // everything came from patho serve: no CDN
  assert.deepEqual(requested.filter((r) => !r.startsWith(url) && !r.startsWith('blob:') && !r.startsWith('data:')), []);
  assert.deepEqual(failures, []);
  await page.close();
});

test('the static site of patho export --format web on a plain static server: model card, one thread, the mask of patho predict', async (t) => {
  const site = join(tmp, 'site');
  const r = spawnSync(process.execPath, ['bin/patho.js', 'export', '--format', 'web', '--model', join(FIXTURES, 'rgb.pt'), '--class-names', 'gland', site], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-> .*site \(23 files: index\.html, model\.onnx/);
  const host = await staticServer(site);
  try {
    const { page, failures, requested } = await openPage();
    await page.goto(host.url);
    assert.match((await page.textContent('#card'))!, /^segmentsglandinputRGB images.*validation Dicenot validated.*tiling512 px tiles, 25% overlap, Gaussian blending/);
    // a plain static host sends no isolation headers: WebAssembly runs on one thread
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    await dropFile(page, GLAS);
    assert.match(await finished(page), /^WebAssembly \(1 thread\): 4 tiles \(600x530\)/);
    const pageDir = join(tmp, 'site-rgb');
    await mkdir(pageDir);
    await download(page, pageDir);
    t.diagnostic(await compareWithPredict(pageDir, predict(join(FIXTURES, 'rgb.pt'), GLAS), 'glas'));
    assert.deepEqual(requested.filter((r) => !r.startsWith(host.url) && !r.startsWith('blob:') && !r.startsWith('data:')), []);
    assert.deepEqual(failures, []);
    await page.close();
  } finally {
    await host.close();
  }
});

test('a model trained at half resolution (--downsample 2): the page shrinks each tile as patho predict does', async (t) => {
  const half = join(tmp, 'rgb-half.pt');
  await copyFile(join(FIXTURES, 'rgb.pt'), half);
  await updateCheckpointMeta(half, { downsample: 2 });
  const site = join(tmp, 'site-half');
  const r = spawnSync(process.execPath, ['bin/patho.js', 'export', '--format', 'web', '--model', half, site], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const host = await staticServer(site);
  try {
    const { page, failures } = await openPage();
    await page.goto(host.url);
    await dropFile(page, GLAS);
    assert.match(await finished(page), /^WebAssembly \(1 thread\): 4 tiles \(600x530\)/);
    const pageDir = join(tmp, 'site-half-page');
    await mkdir(pageDir);
    await download(page, pageDir);
    // the masks are at the image's size; a page that fed whole tiles to the network would differ from predict's almost everywhere
    t.diagnostic(await compareWithPredict(pageDir, predict(half, GLAS), 'glas'));
    assert.deepEqual(failures, []);
    await page.close();
  } finally {
    await host.close();
  }
});

test('the page says so when the browser cannot decode the file', async () => {
  const { page } = await openPage();
  await page.goto(`${url}browser/run/gray/model.pt`);
  await page.setInputFiles('#file', { name: 'slide.tif', mimeType: 'image/tiff', buffer: Buffer.from('II*\0 not really a TIFF') });
  await page.waitForFunction(() => document.body.dataset.state === 'error');
  assert.match((await page.textContent('#status'))!, /^error: this browser cannot decode image\/tiff; PNG and JPEG work in every browser/);
  await page.close();
});

/** A static file server as any host would be: files by extension, no special headers. */
async function staticServer(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png' };
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url!, 'http://x').pathname);
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root)) return void response.writeHead(403).end();
    readFile(file).then(
      (body) => response.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
