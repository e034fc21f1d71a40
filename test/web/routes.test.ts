/**
 * The browser page's parts without a browser: the /browser/ routes of patho
 * serve (what they answer, what they refuse, cross-origin isolation), the
 * module list the page is served and exported from, and the model card.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { memory } from '../../src/tensor/runtime.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { webModel } from '../../src/web/model.js';
import { moduleClosure, pageFiles, RUNTIME_FILES } from '../../src/web/files.js';

let tmp: string;
let server: RunningServer;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-web-routes-'));
  const served = join(tmp, 'served');
  await mkdir(join(served, 'run'), { recursive: true });
  await copyFile('test/fixtures/web/gray.pt', join(served, 'run', 'model.pt'));
  await writeFile(join(served, 'run', 'notes.pt'), 'not a checkpoint');
  await writeFile(join(tmp, 'secret.pt'), 'outside');
  server = await startServer({ dir: served, port: 0 });
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const get = (path: string) => fetch(new URL(path, server.url));

test('/browser/models lists the checkpoints; the page, the ONNX export, modules and runtime are served cross-origin isolated', async () => {
  assert.deepEqual(await (await get('/browser/models')).json(), [
    { path: 'run/model.pt', name: 'model.pt' },
    { path: 'run/notes.pt', name: 'notes.pt' },
  ]);
  const page = await get('/browser/run/run/model.pt');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
  assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
  const html = await page.text();
  assert.match(html, /"model":"\/browser\/onnx\/run\/model\.pt"/);
  assert.match(html, /<script type="module" src="\/browser\/app\/web\/app\.js">/);
  const model = Buffer.from(await (await get('/browser/onnx/run/model.pt')).arrayBuffer());
  // an ONNX ModelProto: field 1 (ir_version, varint) first, then the producer name
  assert.equal(model[0], 0x08);
  assert.ok(model.includes('patho'), 'producer patho');
  const notCheckpoint = await get('/browser/run/run/notes.pt');
  assert.equal(notCheckpoint.status, 422);
  assert.match(await notCheckpoint.text(), /notes\.pt/);
  const worker = await get('/browser/app/web/worker.js');
  assert.equal(worker.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const wasm = await get('/browser/runtime/ort-wasm-simd-threaded.wasm');
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal(wasm.headers.get('cross-origin-resource-policy'), 'same-origin');
  await wasm.body?.cancel();
});

test('the /browser/ routes refuse what is not the page\'s: other files, paths out of the folder', async () => {
  const refused: [string, number][] = [
    ['/browser/runtime/ort.node.min.js', 404],
    ['/browser/runtime/../package.json', 404],
    ['/browser/app/cli/main.js', 404],
    ['/browser/app/../../package.json', 404],
    ['/browser/run/run/model.onnx', 404],
    ['/browser/run/run/missing.pt', 404],
    ['/browser/onnx/%2e%2e/secret.pt', 400],
    ['/browser/nothing', 404],
  ];
  // node:http sends the path as written; fetch() would fold %2e%2e away
  const { port } = new URL(server.url);
  for (const [path, status] of refused) {
    const answer = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(answer, status, path);
  }
});

test('the page\'s modules are the closure of app.js and worker.js, all relative; a package import is refused by name', async () => {
  const { app } = await pageFiles();
  assert.deepEqual([...app.keys()].sort(), [
    'data/patch.js', 'data/scale.js', 'infer/labels.js', 'infer/tiling.js', 'io/crc32.js', 'report/palette.js', 'web/app.js', 'web/png.js', 'web/worker.js', 'wsi/contours.js', 'wsi/geojson.js', 'wsi/simplify.js',
  ]);
  assert.equal(RUNTIME_FILES.length, 6);
  const dir = join(tmp, 'modules');
  await mkdir(join(dir, 'a'), { recursive: true });
  await writeFile(join(dir, 'a', 'entry.js'), "import { x } from '../b.js';\nexport { y } from './c.js';\n");
  await writeFile(join(dir, 'b.js'), "import sharp from 'sharp';\n");
  await writeFile(join(dir, 'a', 'c.js'), 'export const y = 1;\n');
  await assert.rejects(moduleClosure(dir, ['a/entry.js']), /^Error: b\.js imports 'sharp', which a browser cannot load/);
  await writeFile(join(dir, 'b.js'), 'export const x = 2;\n');
  assert.deepEqual([...(await moduleClosure(dir, ['a/entry.js'])).keys()].sort(), ['a/c.js', 'a/entry.js', 'b.js']);
});

test('the model card, settings and export of a checkpoint: the predict tiling, the export\'s class names and mpp, no tensors left behind', async () => {
  const before = memory().numTensors;
  const { card, settings, onnx } = await webModel('test/fixtures/web/rgb.pt', { classNames: ['gland'], mpp: 0.62 });
  assert.equal(memory().numTensors, before);
  assert.ok(onnx.length > 1000);
  assert.deepEqual([card.classes, card.mpp], [['gland'], 0.62]);
  assert.equal(card.inChannels, 3);
  assert.equal(card.validationDice, null);
  assert.deepEqual(settings, { inChannels: 3, classes: 1, threshold: 0.5, tile: 512, overlap: 0.25, batchSize: 1, threads: 0, backend: 'auto', downsample: 1 });
});

test('the page\'s ONNX bytes are the ones `patho export` writes for the same options', async () => {
  const out = join(tmp, 'exported.onnx');
  await exportOnnx('test/fixtures/web/rgb.pt', out, { classNames: ['gland'], mpp: 0.62 });
  const { onnx } = await webModel('test/fixtures/web/rgb.pt', { classNames: ['gland'], mpp: 0.62 });
  assert.ok(Buffer.from(onnx).equals(await readFile(out)));
});
