/**
 * The viewer keeps serving: `patho serve` runs in its own process (when the
 * tests run as root, without the capabilities that let root ignore file
 * permissions, so a mode-000 file stays unreadable; not as another user,
 * who could not enter a private checkout such as CI's mktemp folder),
 * is hit with unreadable files, aborted downloads and a flood of requests,
 * and must answer each with a status, stay alive, and come back to the
 * descriptors it started with (counted in /proc/PID/fd).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { MAX_TILE_DECODE_PIXELS } from '../../src/serve/tiles.js';
import { writeServedFolder } from './fixtures.js';
import { rawRequest } from './raw-http.js';

const skip = process.platform === 'linux' ? false : 'descriptors are counted in /proc';
/** Larger than what the kernel buffers for a client that stops reading, so an aborted download stays unfinished. */
const BIG_BYTES = 24 * 2 ** 20;
/** The side of a plain PNG whose full-resolution rows exceed the decode budget of one tile. */
const HUGE_SIDE = Math.ceil(Math.sqrt(MAX_TILE_DECODE_PIXELS)) + 256;

let tmp: string;
let server: ChildProcess;
let port: number;

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), 'patho-serve-resilience-'));
  const served = await writeServedFolder(tmp);
  await writeFile(join(served, 'big.bin'), Buffer.alloc(BIG_BYTES, 7));
  await writeFile(join(served, 'locked.png'), await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } }).png().toBuffer());
  await chmod(join(served, 'locked.png'), 0o000);
  execFileSync('mkfifo', [join(served, 'pipe.png')]);
  const gray = { raw: { width: HUGE_SIDE, height: HUGE_SIDE, channels: 1 as const } };
  await sharp(Buffer.alloc(HUGE_SIDE * HUGE_SIDE, 136), gray).png({ compressionLevel: 1 }).toFile(join(served, 'huge.png'));
  const command = [process.execPath, resolve('bin/patho.js'), 'serve', '--port', '0', served];
  // setpriv execs the server in its own process, so server.pid is the server's
  const asRoot = process.getuid?.() === 0;
  const dropDac = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'];
  const [program, ...args] = asRoot ? [...dropDac, ...command] : command;
  server = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  for await (const chunk of server.stdout!) {
    printed += chunk;
    const match = /at http:\/\/127\.0\.0\.1:(\d+)\//.exec(printed);
    if (match) {
      port = Number(match[1]);
      break;
    }
  }
  assert.ok(port, `patho serve printed no address: ${printed}`);
  // what the tests below touch, once, so that caches (decoded images, libvips) hold what they will hold
  for (const target of ['/api/items', '/dzi/validation/sample.png_files/9/0_0.jpg', '/dzi/validation/sample_mask.png_files/9/0_0.png?style=fill', '/dzi/huge.png_files/13/0_0.jpg']) {
    assert.equal((await rawRequest(port, target)).status, 200, target);
  }
});

after(async () => {
  if (skip) return;
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  await rm(tmp, { recursive: true, force: true });
});

const descriptors = () => readdirSync(`/proc/${server.pid}/fd`).length;

/** Waits until the server holds no more descriptors than `start`; a leak never gets there, and the test times out. */
async function descriptorsBackTo(start: number): Promise<void> {
  while (descriptors() > start) await sleep(20);
}

function assertAlive(): void {
  assert.equal(server.exitCode, null, 'the server exited');
  assert.equal(server.signalCode, null, 'the server was killed');
}

/** Starts downloading `target`, reads the first bytes, then drops the connection. */
function abortedDownload(target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('data', () => {
      socket.destroy();
      resolve();
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, 'latin1');
  });
}

test('a file that passes stat but cannot be opened is answered 403, as a file and as tiles, and the server goes on', { skip, timeout: 120_000 }, async () => {
  const start = descriptors();
  assert.equal((await rawRequest(port, '/files/locked.png')).status, 403);
  assert.equal((await rawRequest(port, '/files/locked.png', {}, 'HEAD')).status, 403);
  assert.ok([403, 500].includes((await rawRequest(port, '/dzi/locked.png.dzi')).status));
  assert.ok([403, 500].includes((await rawRequest(port, '/dzi/locked.png_files/0/0_0.jpg')).status));
  // a FIFO is no file: refused without waiting for a writer
  assert.equal((await rawRequest(port, '/files/pipe.png')).status, 404);
  assertAlive();
  assert.equal((await rawRequest(port, '/files/plain.png')).status, 200);
  await descriptorsBackTo(start);
});

test(`aborted downloads of a ${BIG_BYTES >> 20} MB file release it: descriptors return to the start`, { skip, timeout: 120_000 }, async () => {
  const start = descriptors();
  for (let i = 0; i < 20; i++) await abortedDownload('/files/big.bin');
  await descriptorsBackTo(start);
  assertAlive();
  const whole = await rawRequest(port, '/files/big.bin');
  assert.equal(whole.status, 200);
  assert.equal(whole.body.length, BIG_BYTES);
});

test('a flood of tiles, downloads, aborted downloads and unreadable files: every request answered, the server alive, descriptors back', { skip, timeout: 120_000 }, async () => {
  const start = descriptors();
  const tiles = ['/dzi/validation/sample.png_files/9/0_0.jpg', '/dzi/validation/sample.png_files/9/1_0.jpg', '/dzi/validation/sample.png_files/8/0_0.jpg',
    '/dzi/validation/sample_mask.png_files/9/0_0.png?style=fill', '/dzi/validation/sample_mask.png_files/9/1_0.png?style=outline'];
  const answers: Promise<{ target: string; status: number }>[] = [];
  const ask = (target: string, method = 'GET') => answers.push(rawRequest(port, target, {}, method).then(({ status }) => ({ target, status })));
  for (let i = 0; i < 300; i++) ask(tiles[i % tiles.length]);
  for (let i = 0; i < 20; i++) {
    ask('/files/locked.png');
    ask('/files/pipe.png');
    ask('/files/big.bin', 'HEAD');
    ask('/dzi/huge.png_files/0/0_0.jpg');
  }
  const aborted = Array.from({ length: 20 }, () => abortedDownload('/files/big.bin'));
  await Promise.all(aborted);
  const expected: Record<string, number[]> = {
    '/files/locked.png': [403],
    '/files/pipe.png': [404],
    '/files/big.bin': [200],
    '/dzi/huge.png_files/0/0_0.jpg': [413, 503],
  };
  for (const { target, status } of await Promise.all(answers)) {
    // a tile is drawn, or refused for now when too many wait
    assert.ok((expected[target] ?? [200, 503]).includes(status), `${target}: ${status}`);
  }
  assertAlive();
  await descriptorsBackTo(start);
  assert.equal((await rawRequest(port, tiles[0])).status, 200);
});

test(`a tile that would decode more than ${MAX_TILE_DECODE_PIXELS} pixels is refused with 413; tiles within the budget are drawn`, { skip, timeout: 120_000 }, async () => {
  // level 13 is full resolution: the top row of tiles decodes 256 rows, the bottom row every row above it too
  assert.equal((await rawRequest(port, '/dzi/huge.png_files/13/0_0.jpg')).status, 200);
  assert.equal((await rawRequest(port, '/dzi/huge.png_files/12/0_0.jpg')).status, 200);
  const bottom = Math.floor((HUGE_SIDE - 1) / 256);
  const refused = await rawRequest(port, `/dzi/huge.png_files/13/0_${bottom}.jpg`);
  assert.equal(refused.status, 413);
  assert.match(refused.body.toString(), /would decode \d+ pixels, more than the \d+ a tile may/);
  assert.equal((await rawRequest(port, '/dzi/huge.png_files/0/0_0.jpg')).status, 413);
  assertAlive();
});

test('an agreement tile counts the pixels of both masks against the decode budget', { skip, timeout: 120_000 }, async () => {
  // full-resolution tile row 15 decodes rows 0..4095 of the PNG: within the budget for one mask, over it for two
  const row = 15;
  const decoded = HUGE_SIDE * 256 * (row + 1);
  assert.ok(decoded <= MAX_TILE_DECODE_PIXELS && 2 * decoded > MAX_TILE_DECODE_PIXELS, `${decoded} pixels`);
  assert.equal((await rawRequest(port, `/dzi/huge.png_files/13/0_${row}.png?style=fill`)).status, 200);
  const refused = await rawRequest(port, `/dzi/huge.png_files/13/0_${row}.png?style=fill&overlay=agreement&truth=huge.png`);
  assert.equal(refused.status, 413);
  assert.match(refused.body.toString(), new RegExp(`would decode ${2 * decoded} pixels`));
  assertAlive();
});
