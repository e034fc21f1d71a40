import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { readRunLog } from '../../src/train/log.js';
import { PREDICTION_COLOUR, TRUTH_COLOUR } from '../../src/report/panels.js';
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

function countColour(pixels: Buffer, colour: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i += 3) if (pixels[i] === colour[0] && pixels[i + 1] === colour[1] && pixels[i + 2] === colour[2]) n++;
  return n;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-report-'));
  data = join(tmp, 'data');
  run = join(tmp, 'run');
  await writeDiscs(data, 6, 32);
  // a tiny run whose last step is the report
  const trained = patho(
    'train', '--data', data, '--val-names', '2,3,4,5', '--epochs', '2', '--base-channels', '2', '--depth', '1',
    '--patch', '0', '--batch-size', '2', '--workers', '0', '--threads', '1', '--out', run,
  );
  assert.equal(trained.status, 0, trained.stderr);
  assert.match(trained.stderr, /report at .*report\.html/);
});

after(() => rm(tmp, { recursive: true, force: true }));

test('patho train writes report.html, whose embedded run log equals train.jsonl', () => {
  const log = readRunLog(join(run, 'train.jsonl'));
  assert.equal(log.length, 2);
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
  assert.equal(sweep.chosen, 0.5);
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
  const table = /<table class="scores objects"><caption>Glands as objects \(GlaS challenge metrics; threshold 0\.5, 8-connected objects\)<\/caption>.*?<tbody><tr>(.*?)<\/tr>/s.exec(html());
  assert.ok(table, 'a GlaS table');
  const cells = [...table[1].matchAll(/<td(?: data-value="([^"]*)")?>/g)].map((m) => m[1]);
  assert.equal(cells.length, 8);
  const [f1, precision, recall, , , , dice] = cells.map(Number);
  for (const v of [f1, precision, recall, dice]) assert.ok(v >= 0 && v <= 1, String(v));
  assert.ok(!html().includes('Cells as regions'), 'no ISBI table for objects');
});

test('worst and best examples show image, ground truth and prediction with outlines', async () => {
  const examples = [...html().matchAll(/<div class="example" data-name="([^"]*)">(.*?)<\/div>\n<\/div>/gs)];
  // 4 validation images: the 3 worst, then the best of the rest
  assert.equal(examples.length, 4);
  for (const [, name, body] of examples) {
    const panels = Object.fromEntries([...body.matchAll(/<img class="(\w+)" src="([^"]+)"/g)].map((m) => [m[1], m[2]]));
    assert.deepEqual(Object.keys(panels), ['image', 'truth', 'prediction'], name);
    const image = await decodePanel(panels.image);
    const truth = await decodePanel(panels.truth);
    const prediction = await decodePanel(panels.prediction);
    assert.deepEqual([truth.width, truth.height], [32, 32]);
    assert.equal(countColour(image.data, TRUTH_COLOUR), 0);
    // the disc's outline: about its circumference in pixels
    const outlined = countColour(truth.data, TRUTH_COLOUR);
    assert.ok(outlined > 10 && outlined < 200, `${name}: ${outlined} outline pixels`);
    assert.equal(countColour(prediction.data, TRUTH_COLOUR), 0);
    // outside the prediction's outline, the panel is the image
    const differs = prediction.data.reduce((n, v, i) => n + (v !== image.data[i] ? 1 : 0), 0);
    assert.equal(differs, 3 * countColour(prediction.data, PREDICTION_COLOUR));
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

test('in Chromium, offline, the report draws its five charts and sorts the table by Dice', async () => {
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
    await page.goto(`file://${join(run, 'report.html')}`);
    await page.waitForFunction(() => document.querySelectorAll('.uplot').length === 5, null, { timeout: 10_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requested, []);
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
