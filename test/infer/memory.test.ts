/**
 * Streaming inference keeps memory bounded: the buffers the tiled engine
 * holds (its band, a batch of tiles in and out, the blending weights) do not
 * grow with the image height, except the blending coverage of 8 bytes a row,
 * while a whole-image pass would hold the whole probability map (4 bytes a
 * pixel and class). The engine counts its own buffers (predictTiled's
 * peakBufferBytes): the process's peak resident memory varies by tens of MiB
 * between identical runs (allocator and GC timing), so it cannot be asserted
 * on without a margin that could be crossed by chance.
 * Live tensors are checked too: libtorch memory is not the engine's to count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { predictTiled, type TileSource } from '../../src/infer/tiled.js';
import { memory, setNumThreads } from '../../src/tensor/runtime.js';
import { fixedConvNet } from './helpers.js';

setNumThreads(1);

/** A synthetic image read on demand, as a slide is: nothing of it is held. */
function streamedImage(width: number, height: number, channels: number): TileSource {
  return {
    width,
    height,
    channels,
    read(x0, y0, w, h) {
      const out = new Float32Array(channels * w * h);
      for (let c = 0; c < channels; c++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) out[(c * h + y) * w + x] = Math.sin((x0 + x) / 37 + c) * Math.cos((y0 + y) / 53);
        }
      }
      return out;
    },
  };
}

function run(width: number, height: number): { peakBufferBytes: number; rows: number; tensorsAfter: number } {
  const net = fixedConvNet(3, 3);
  const before = memory().numTensors;
  let rows = 0;
  const stats = predictTiled(net, streamedImage(width, height, 3), {
    tile: 256,
    onRows: (_y0, n) => {
      rows += n;
    },
  });
  const tensorsAfter = memory().numTensors - before;
  net.dispose();
  return { ...stats, rows, tensorsAfter };
}

test('tiled inference of 1500x3000 and 1500x6000 holds the same buffers, but for 8 bytes a row of blending coverage', () => {
  const small = run(1500, 3000);
  const large = run(1500, 6000);
  assert.equal(small.rows, 3000);
  assert.equal(large.rows, 6000);
  assert.equal(large.peakBufferBytes - small.peakBufferBytes, 8 * 3000, `${small.peakBufferBytes} -> ${large.peakBufferBytes} bytes`);
  // below even the whole probability map of the small image, which a whole-image pass would hold
  assert.ok(large.peakBufferBytes < 1500 * 3000 * 4, `${large.peakBufferBytes} bytes held`);
  assert.equal(small.tensorsAfter, 0, 'live tensors left behind');
  assert.equal(large.tensorsAfter, 0, 'live tensors left behind');
});
