/**
 * The slide pipeline (predictPipelined): tiles of the next batches requested
 * before the engine computes the current one, the same blending as the
 * synchronous path, the engine's busy time measured with an injected clock,
 * and a slide predicted with tiles read in a worker thread equal, byte for
 * byte, to one read in the main thread without prefetch.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { planarSource, predictTiled } from '../../src/infer/sliding.js';
import { inPasses, libtorchEngine, planTiles, predictPipelined, readTiles, type TileEngine } from '../../src/infer/tiled.js';
import { memory, setNumThreads } from '../../src/tensor/runtime.js';
import { predictSlide } from '../../src/wsi/predict.js';
import { Slide } from '../../src/wsi/slide.js';
import { assertCloseValues } from '../close.js';
import { fixedConvNet, syntheticImage, unetWithStatistics } from './helpers.js';

setNumThreads(2);
const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
const dir = mkdtempSync(join(tmpdir(), 'patho-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Rows as the blending hands them on: [y0, rows, a copy of the probabilities]. */
type Rows = [number, number, Float32Array][];

test('pipelined == synchronous tiling, rows for rows, with prefetch 0, 1 and 3; skipped tiles too', async () => {
  const net = fixedConvNet(3, 3);
  const image = syntheticImage(611, 389);
  // skip two tiles of the second band and every tile of the third
  const skipTile = (x: number, y: number) => (y > 0 && y < 150 && x < 200) || (y > 150 && y < 250);
  const options = { tile: 96, overlap: 0.25, batchSize: 3, skipTile };
  const start = memory().numTensors;
  const expected: Rows = [];
  predictTiled(net, planarSource(image), { ...options, onRows: (y0, n, p) => expected.push([y0, n, p.slice()]) });
  const plan = planTiles(image.width, image.height, options);
  assert.ok(plan.bands.some((b) => b.batches.length === 0), 'a band without batches');
  for (const prefetch of [0, 1, 3]) {
    const got: Rows = [];
    const source = planarSource(image);
    await predictPipelined(libtorchEngine(net), plan, async (tiles) => readTiles(source, tiles, plan.tile).input, {
      ...options,
      prefetch,
      onRows: (y0, n, p) => got.push([y0, n, p.slice()]),
    });
    assert.deepEqual(got, expected, `prefetch ${prefetch}`);
  }
  assert.equal(memory().numTensors, start, 'live tensors left behind');
  net.dispose();
});

test('the tiles of batches k+1 .. k+prefetch are requested before batch k computes; busy and waiting time from the injected clock', async () => {
  const image = syntheticImage(300, 200);
  const plan = planTiles(image.width, image.height, { tile: 64, batchSize: 2 });
  const source = planarSource(image);
  let now = 0;
  const events: string[] = [];
  let ran = 0;
  // computing a batch takes 5 s; tiles take `delay` s to arrive once awaited
  const engine: TileEngine = {
    classes: 1,
    inChannels: 3,
    async run(_input, shape) {
      events.push(`run ${ran++}`);
      now += 5;
      return new Float32Array(shape[0] * 64 * 64).fill(0.5);
    },
  };
  const log = (prefetch: number, delay: number) => {
    events.length = 0;
    ran = 0;
    let read = 0;
    return predictPipelined(
      engine,
      plan,
      async (tiles) => {
        events.push(`read ${read++}`);
        const input = readTiles(source, tiles, plan.tile).input;
        await Promise.resolve();
        now += delay;
        return input;
      },
      { tile: 64, batchSize: 2, prefetch, clock: () => now, onRows: () => undefined },
    );
  };
  const batches = plan.batches.length;
  assert.ok(batches >= 6, `${batches} batches`);

  now = 0;
  const ahead = await log(2, 0);
  assert.deepEqual(events.slice(0, 5), ['read 0', 'read 1', 'read 2', 'run 0', 'read 3']);
  assert.equal(events.filter((e) => e.startsWith('read')).length, batches);
  assert.deepEqual([ahead.engineSeconds, ahead.readWaitSeconds, ahead.wallSeconds, ahead.batches], [5 * batches, 0, 5 * batches, batches]);

  now = 0;
  const serial = await log(0, 2);
  assert.deepEqual(events.slice(0, 4), ['read 0', 'run 0', 'read 1', 'run 1']);
  assert.deepEqual([serial.engineSeconds, serial.readWaitSeconds, serial.wallSeconds], [5 * batches, 2 * batches, 7 * batches]);
});

test('inPasses: a batch of 5 run 2 tiles per pass, one pass in flight at a time, gives the probabilities of the whole batch', async (t) => {
  const net = fixedConvNet(3, 3);
  t.after(() => net.dispose());
  const start = memory().numTensors;
  const image = syntheticImage(300, 200);
  const plan = planTiles(image.width, image.height, { tile: 64, batchSize: 5 });
  const { input, shape } = readTiles(planarSource(image), plan.batches[0], plan.tile);
  assert.equal(shape[0], 5);
  const whole = libtorchEngine(net).run(input, shape) as Float32Array;
  // what the wrapped engine is given: tiles per pass, and passes computing at once
  let largestPass = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  const watched = (asynchronous: boolean): TileEngine => ({
    classes: 1,
    inChannels: 3,
    run(x, s) {
      largestPass = Math.max(largestPass, s[0]);
      const probs = libtorchEngine(net).run(x, s) as Float32Array;
      if (!asynchronous) return probs;
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      return new Promise((resolve) => setImmediate(() => (inFlight--, resolve(probs))));
    },
  });
  for (const asynchronous of [false, true]) {
    largestPass = 0;
    const result = inPasses(watched(asynchronous), 2).run(input, shape);
    assert.equal(result instanceof Promise, asynchronous);
    // oneDNN may choose other convolution kernels for a batch of 2 than of 5
    // (it does on CPUs with AMX): the same sums in another order, so float32
    // rounding apart. K: the 3x3 kernel over 3 channels; the logits' scale:
    // the kernel's 4 times the largest input, less the bias of 2.
    const probs = await result;
    assert.ok(probs instanceof Float32Array && probs.length === whole.length);
    assertCloseValues(t, asynchronous ? 'asynchronous engine' : 'synchronous engine', probs, whole, {
      precision: 'float32',
      terms: 3 * 9,
      scale: 4 * input.reduce((m, v) => Math.max(m, Math.abs(v)), 0) + 2,
    });
    assert.equal(largestPass, 2);
  }
  assert.equal(mostInFlight, 1);
  assert.throws(() => inPasses(watched(false), 0), /tilesPerPass must be a positive integer, got 0/);
  assert.equal(memory().numTensors, start, 'live tensors left behind');
});

test('CMU slide: tiles read in a worker two batches ahead give the TIFFs of tiles read in the main thread one at a time', async () => {
  const net = unetWithStatistics({ inChannels: 3, classes: 1, depth: 2, baseChannels: 4 });
  const start = memory().numTensors;
  const run = async (name: string, readers: number, prefetch: number) => {
    const slide = Slide.open(CMU);
    try {
      return await predictSlide(libtorchEngine(net), slide, {
        outDir: dir, name, tile: 128, batchSize: 3, region: { x: 500, y: 700, width: 700, height: 530 },
        normalization: { mean: [0.8, 0.6, 0.8], std: [0.2, 0.2, 0.2] },
        formats: ['tiff'], probabilities: true, overlay: false, readers, prefetch,
      });
    } finally {
      slide.close();
    }
  };
  const serial = await run('serial', 0, 0);
  const ahead = await run('ahead', 1, 2);
  assert.ok(ahead.tiles - ahead.skippedTiles > 6, `${ahead.tiles - ahead.skippedTiles} tiles predicted`);
  assert.deepEqual([ahead.tiles, ahead.skippedTiles], [serial.tiles, serial.skippedTiles]);
  for (const file of ['mask.tif', 'prob.tif']) {
    assert.ok(readFileSync(join(dir, `ahead_${file}`)).equals(readFileSync(join(dir, `serial_${file}`))), file);
  }
  assert.ok(ahead.pipeline.engineSeconds > 0 && ahead.pipeline.engineSeconds <= ahead.pipeline.wallSeconds);
  assert.equal(memory().numTensors, start, 'live tensors left behind');
  net.dispose();
});
