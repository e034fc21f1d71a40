import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { readRunLog } from '../../src/train/log.js';
import { comparePixels } from '../../src/report/panels.js';
import { artifactPath, launchChromium } from '../serve/browser.js';
import { writeDiscs } from './fixtures.js';

const PATHO = resolve('bin/patho.js');
let tmp: string;
let data: string;
let run: string;

function patho(...args: string[]) {
  return spawnSync(process.execPath, [PATHO, ...args], { encoding: 'utf8', timeout: 60_000 });
}

const html = () => readFileSync(join(run, 'report.html'), 'utf8');

function jsonBlock(page: string, id: string): unknown {
  const match = new RegExp(`<script type="application/json" id="${id}">(.*?)</script>`, 's').exec(page);
  assert.ok(match, `no #${id} block in the report`);
  return JSON.parse(match[1]);
}

/** The decoded RGB pixels of a data: URI PNG. */
async function decodePanel(uri: string): Promise<{ data: Buffer; width: number; height: number }> {
  const png = Buffer.from(uri.replace(/^data:image\/png;base64,/, ''), 'base64');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}


before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-report-'));
  data = join(tmp, 'data');
  run = join(tmp, 'run');
  await writeDiscs(data, 6, 32);
  // a tiny run whose last step is the report
  const trained = patho(
    // validation every second epoch: the charts must draw all the same
    'train', '--data', data, '--val-names', '2,3,4,5', '--epochs', '4', '--val-every', '2', '--base-channels', '2', '--depth', '1',
    '--patch', '0', '--batch-size', '2', '--workers', '0', '--threads', '1', '--out', run,
  );
  assert.equal(trained.status, 0, trained.stderr);
  assert.match(trained.stderr, /report at .*report\.html/);
});

after(() => rm(tmp, { recursive: true, force: true }));

test('patho train writes report.html, whose embedded run log equals train.jsonl', () => {
  const log = readRunLog(join(run, 'train.jsonl'));
  assert.equal(log.length, 4);
  assert.deepEqual(log.map((r) => Object.keys(r.dice as object).length > 0), [false, true, false, true], 'validated every second epoch');
  assert.deepEqual(jsonBlock(html(), 'run-log'), log);
});

test('the report is self-contained: uPlot, styles and script inlined, nothing fetched', () => {
  const page = html();
  assert.match(page, /<div id="chart-loss"/);
  assert.match(page, /<div id="chart-scores"/);
  assert.match(page, /<div id="chart-lr"/);
  assert.match(page, /<div id="chart-throughput"/);
  assert.match(page, /<div id="chart-sweep"/);
  assert.ok(page.includes('uPlot'), 'uPlot is inlined');
  assert.ok(page.includes('.uplot'), "uPlot's stylesheet is inlined");
  const external = [...page.matchAll(/\s(?:src|href)\s*=\s*["']([^"']*)["']/g)].map((m) => m[1]).filter((url) => !url.startsWith('data:'));
  assert.deepEqual(external, []);
});

test('the sweep and per-image scores cover the validation images at the model threshold', () => {
  const page = html();
  const sweep = jsonBlock(page, 'sweep') as { thresholds: number[]; dice: number[]; iou: number[]; chosen: number; images: number };
  const info = patho('info', '--model', join(run, 'model.pt'), '--json');
  assert.equal(sweep.chosen, JSON.parse(info.stdout).threshold, "the masks are cut at the model's threshold");
  assert.equal(sweep.images, 4);
  assert.equal(sweep.thresholds.length, 19);
  assert.equal(sweep.dice.length, 19);
  assert.equal(sweep.iou.length, 19);
  const table = /<table class="sortable" id="per-image">.*?<tbody>(.*?)<\/tbody>/s.exec(page);
  assert.ok(table);
  const rows = [...table[1].matchAll(/<tr><td>([^<]*)<\/td><td data-value="([^"]*)">/g)];
  assert.deepEqual(rows.map((r) => r[1]), ['2', '3', '4', '5']);
  for (const [, , dice] of rows) assert.ok(Number(dice) >= 0 && Number(dice) <= 1);
});

test('the discs are objects on a background: the report scores them with the GlaS object metrics', () => {
  // at the model's threshold, where the report cuts its masks
  const threshold = JSON.parse(patho('info', '--model', join(run, 'model.pt'), '--json').stdout).threshold;
  const caption = `Glands as objects (GlaS challenge metrics; threshold ${threshold}, 8-connected objects)`;
  const table = /<table class="scores objects"><caption>(.*?)<\/caption>.*?<tbody><tr>(.*?)<\/tr>/s.exec(html());
  assert.ok(table, 'a GlaS table');
  assert.equal(table[1], caption);
  const cells = [...table[2].matchAll(/<td(?: data-value="([^"]*)")?>/g)].map((m) => m[1]);
  assert.equal(cells.length, 8);
  const [f1, precision, recall, , , , dice] = cells.map(Number);
  for (const v of [f1, precision, recall, dice]) assert.ok(v >= 0 && v <= 1, String(v));
  assert.ok(!html().includes('Cells as regions'), 'no ISBI table for objects');
});

test('worst and best examples show the image, and ground truth and prediction compared on it', async () => {
  const examples = [...html().matchAll(/<div class="example" data-name="([^"]*)">(.*?)<\/div>\n<\/div>/gs)];
  // 4 validation images: the 3 worst, then the best of the rest
  assert.equal(examples.length, 4);
  const binary = async (file: string) => Uint8Array.from(await sharp(join(run, 'validation', file)).toColourspace('b-w').raw().toBuffer(), (v) => (v > 127 ? 1 : 0));
  for (const [, name, body] of examples) {
    const panels = Object.fromEntries([...body.matchAll(/<img class="(\w+)" src="([^"]+)"/g)].map((m) => [m[1], m[2]]));
    assert.deepEqual(Object.keys(panels), ['image', 'comparison'], name);
    const image = await decodePanel(panels.image);
    const comparison = await decodePanel(panels.comparison);
    assert.deepEqual([comparison.width, comparison.height], [32, 32]);
    // the comparison of the truth and the mask the report wrote for patho serve, on the image
    const expected = comparePixels(image.data, await binary(`${name}_truth.png`), await binary(`${name}_mask.png`), 32, 32);
    assert.deepEqual(comparison.data, expected, name);
  }
});

test('the checkpoint records the data folder and the validation pairs', () => {
  const info = patho('info', '--model', join(run, 'model.pt'), '--json');
  assert.equal(info.status, 0, info.stderr);
  const meta = JSON.parse(info.stdout) as { data: { root: string; validation: { name: string; image: string; mask: string }[] } };
  assert.equal(meta.data.root, resolve(data));
  assert.deepEqual(meta.data.validation.map((p) => p.name), ['2', '3', '4', '5']);
  assert.equal(meta.data.validation[0].mask, resolve(data, 'masks', '2.png'));
});

test('the validation folder holds image, truth, prediction and probability for patho serve', async () => {
  for (const name of ['2', '3', '4', '5']) {
    for (const suffix of ['', '_truth', '_mask', '_prob']) assert.ok(existsSync(join(run, 'validation', `${name}${suffix}.png`)), `${name}${suffix}`);
  }
  const truth = await sharp(join(run, 'validation', '3_truth.png')).toColourspace('b-w').raw().toBuffer();
  const mask = await sharp(join(data, 'masks', '3.png')).toColourspace('b-w').raw().toBuffer();
  assert.deepEqual(truth, mask);
});

test('patho report --data scores another folder; bad folders exit 2', async () => {
  const other = patho('report', run, '--data', data, '--out', join(tmp, 'other.html'), '--examples', '1', '--threads', '1');
  assert.equal(other.status, 0, other.stderr);
  const rows = /<table class="sortable" id="per-image">.*?<tbody>(.*?)<\/tbody>/s.exec(readFileSync(join(tmp, 'other.html'), 'utf8'));
  assert.equal([...rows![1].matchAll(/<tr>/g)].length, 6);

  const missing = patho('report', join(tmp, 'nothing'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nothing: no such folder/);
  await mkdir(join(tmp, 'empty'));
  const empty = patho('report', join(tmp, 'empty'));
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /no train\.jsonl here/);
});

test('in Chromium, offline, the report draws its five charts (scores across unvalidated epochs, readable learning rates) and sorts the table by Dice', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requested: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      requested.push(url);
      return route.abort();
    });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // the axes' tick labels are drawn on canvases: record the text drawn
    await page.addInitScript(() => {
      const drawn: string[] = [];
      (window as unknown as { drawnText: string[] }).drawnText = drawn;
      const fillText = CanvasRenderingContext2D.prototype.fillText;
      CanvasRenderingContext2D.prototype.fillText = function (text: string, x: number, y: number, maxWidth?: number) {
        drawn.push(String(text));
        return maxWidth === undefined ? fillText.call(this, text, x, y) : fillText.call(this, text, x, y, maxWidth);
      };
    });
    await page.goto(`file://${join(run, 'report.html')}`);
    await page.waitForFunction(() => document.querySelectorAll('.uplot').length === 5, null, { timeout: 10_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requested, []);

    // validated every second epoch: the scores chart has its series, drawn as lines across the unvalidated epochs
    const series = await page.$$eval('#chart-scores .u-legend .u-series .u-label', (labels) => labels.map((l) => l.textContent));
    assert.ok(series.includes('Dice@0.5') && series.includes('IoU@0.5'), series.join(', '));
    // coloured pixels at epoch 3 (of 1-4), which has no score: only a line from epoch 2 to 4 puts any there
    const coloured = await page.$eval('#chart-scores', (host) => {
      const canvas = host.querySelector('canvas')!;
      const over = host.querySelector<HTMLElement>('.u-over')!;
      const scale = canvas.width / canvas.clientWidth;
      const x = Math.round((over.offsetLeft + over.clientWidth * (2 / 3)) * scale);
      const { data } = canvas.getContext('2d')!.getImageData(x - 2, 0, 5, canvas.height);
      let n = 0;
      // a series colour, not the gray grid or the transparent background
      for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 128 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) n++;
      return n;
    });
    assert.ok(coloured > 0, 'the validation lines cross epoch 3');

    // the learning rate's ticks read 1e-3, 5e-4, not 0.001, 0.001, 0
    const texts = await page.evaluate(() => (window as unknown as { drawnText: string[] }).drawnText);
    const rates = texts.filter((t) => /^\d+(\.\d+)?e-\d+$/.test(t));
    assert.ok(new Set(rates).size >= 2, `learning-rate ticks: ${rates.join(', ')}`);
    assert.deepEqual(texts.filter((t) => /^0\.00\d/.test(t)), []);
    const dice = () => page.$$eval('#per-image tbody tr', (rows) => rows.map((r) => Number((r as HTMLTableRowElement).cells[1].dataset.value)));
    await page.click('#per-image th:nth-child(2)');
    const ascending = await dice();
    assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
    await page.click('#per-image th:nth-child(2)');
    const descending = await dice();
    assert.deepEqual(descending, [...ascending].reverse());
    await page.screenshot({ path: artifactPath('report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
