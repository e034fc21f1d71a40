import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { PREDICTION_COLOUR, TRUTH_COLOUR } from '../../src/report/palette.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { HEIGHT, MASK, SECRET, WIDTH, writeServedFolder } from './fixtures.js';
import { rawRequest as rawHttp } from './raw-http.js';

let tmp: string;
let server: RunningServer;
let port: number;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'patho-serve-'));
  server = await startServer({ dir: await writeServedFolder(tmp), port: 0 });
  port = Number(new URL(server.url).port);
});

after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

const rawRequest = (target: string, headers: Record<string, string> = {}, method = 'GET') => rawHttp(port, target, headers, method);

async function rgba(body: Buffer) {
  const { data, info } = await sharp(body).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { info, at: (x: number, y: number) => [...data.subarray((y * info.width + x) * 4, (y * info.width + x) * 4 + 4)] };
}

test('GET /api/items pairs images with their masks and ground truth; plain images come alone', async () => {
  const response = await fetch(`${server.url}api/items`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), [
    { id: 'plain', name: 'plain', image: 'plain.png' },
    { id: 'validation/halved', name: 'halved', image: 'validation/halved.png', mask: 'validation/halved_mask.png', truth: 'validation/halved_truth.png' },
    { id: 'validation/sample', name: 'sample', image: 'validation/sample.png', mask: 'validation/sample_mask.png', truth: 'validation/sample_truth.png' },
  ]);
});

test('the page and OpenSeadragon are served from this machine', async () => {
  const page = await (await fetch(server.url)).text();
  assert.match(page, /<script src="\/vendor\/openseadragon\/openseadragon\.min\.js"><\/script>/);
  assert.doesNotMatch(page, /https?:\/\//);
  const library = await fetch(`${server.url}vendor/openseadragon/openseadragon.min.js`);
  assert.equal(library.status, 200);
  assert.match(await library.text(), /OpenSeadragon/);
  assert.equal((await fetch(`${server.url}vendor/openseadragon/images/home_rest.png`)).status, 200);
});

test('Deep Zoom 300x200: descriptor, level 9 tiles of 256 and 44 pixels, level 8 of 150x100, none beyond', async () => {
  const dzi = await (await fetch(`${server.url}dzi/validation/sample.png.dzi?style=image`)).text();
  assert.match(dzi, /TileSize="256" Overlap="0" Format="jpg"/);
  assert.match(dzi, /<Size Width="300" Height="200"\/>/);
  const tile = async (path: string) => sharp(Buffer.from(await (await fetch(`${server.url}dzi/validation/${path}`)).arrayBuffer())).metadata();
  assert.deepEqual([(await tile('sample.png_files/9/0_0.jpg')).width, (await tile('sample.png_files/9/0_0.jpg')).height], [256, HEIGHT]);
  assert.equal((await tile('sample.png_files/9/1_0.jpg')).width, WIDTH - 256);
  const half = await tile('sample.png_files/8/0_0.jpg');
  assert.deepEqual([half.width, half.height], [150, 100]);
  assert.equal((await fetch(`${server.url}dzi/validation/sample.png_files/9/2_0.jpg`)).status, 404);
  assert.equal((await fetch(`${server.url}dzi/validation/sample.png_files/10/0_0.jpg`)).status, 404);
});

test('mask tiles: filled or outlined in the overlay colour where the mask is, transparent elsewhere', async () => {
  const tile = async (query: string) => rgba(Buffer.from(await (await fetch(`${server.url}dzi/validation/sample_mask.png_files/9/0_0.png?${query}`)).arrayBuffer()));
  const fill = await tile('style=fill');
  assert.deepEqual(fill.at(MASK.left + 10, MASK.top + 10), [...PREDICTION_COLOUR, 255]);
  assert.deepEqual(fill.at(MASK.left - 1, MASK.top + 10), [0, 0, 0, 0]);
  const outline = await tile('style=outline&colour=truth');
  assert.deepEqual(outline.at(MASK.left, MASK.top + 10), [...TRUTH_COLOUR, 255]);
  assert.equal(outline.at(MASK.left + 10, MASK.top + 10)[3], 0);
  assert.equal((await fetch(`${server.url}dzi/validation/sample_mask.png.dzi?style=glow`)).status, 400);
});

test('path traversal on raw requests is refused with 400 or 404, and the secret never leaks', async () => {
  const attempts = [
    '/files/../secret.txt',
    '/files/validation/../../secret.txt',
    '/files/%2e%2e/secret.txt',
    '/files/%2E%2E%2Fsecret.txt',
    '/files/..%2fsecret.txt',
    '/files/.%2e/secret.txt',
    '/files//etc/passwd',
    '/files/%2fetc%2fpasswd',
    `/files/${encodeURIComponent(join(tmp, 'secret.txt'))}`,
    '/files/..%5csecret.txt',
    '/files/%00',
    '/files/%zz',
    '/files/link.txt',
    '/files/outside/secret.txt',
    '/files/./validation/sample.png',
    '/dzi/../secret.txt.dzi',
    '/dzi/%2e%2e/served/validation/sample.png.dzi',
    '/dzi/outside/secret.txt_files/9/0_0.jpg',
    '/vendor/openseadragon/../../../package.json',
    '/vendor/openseadragon/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/../secret.txt',
    `http://127.0.0.1:1/files/../secret.txt`,
  ];
  for (const target of attempts) {
    const { status, body } = await rawRequest(target);
    assert.ok(status === 400 || status === 404, `${target}: ${status}`);
    assert.ok(!body.includes(SECRET) && !body.includes('root:'), `${target} leaked`);
  }
  // the same raw client reads a file that is inside
  const inside = await rawRequest('/files/validation/sample.png');
  assert.equal(inside.status, 200);
  assert.equal((await sharp(inside.body).metadata()).width, WIDTH);
});

test('only GET and HEAD, and only for a local Host (no DNS rebinding)', async () => {
  assert.equal((await rawRequest('/api/items', {}, 'POST')).status, 405);
  const head = await rawRequest('/files/plain.png', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await rawRequest('/api/items', { Host: 'attacker.example' })).status, 403);
  assert.equal((await fetch(`http://localhost:${port}/api/items`)).status, 200);
});
