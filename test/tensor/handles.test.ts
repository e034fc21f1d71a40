/**
 * Native handles and native allocations: every handle the addon gives out is
 * tagged with its kind, so passing one where another is expected is a
 * TypeError naming the op, never a reinterpreted pointer; an allocation that
 * fails inside the addon is an Error naming the op, never an abort.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

import { native, type GroupHandle, type Handle, type ReducerHandle } from '../../src/tensor/native.js';
import { memory, ones } from '../../src/tensor/index.js';

const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
/** The slide functions, present when the addon was built with OpenSlide. */
const slides = native as unknown as {
  slideOpen?(path: string): unknown;
  slideProperties(handle: unknown): unknown;
  slideReadRegion(handle: unknown, x: number, y: number, level: number, w: number, h: number): Uint8Array;
  slideClose(handle: unknown): void;
};

/** Throws a TypeError whose message starts with `op: ` and says what was given. */
const typeError = (op: string, given: RegExp) => (e: unknown) =>
  e instanceof TypeError && e.message.startsWith(`${op}: `) && given.test(e.message);

test('a tensor handle passed to the slide functions is a TypeError naming the op, and the process goes on', { skip: !slides.slideOpen && 'built without OpenSlide' }, () => {
  const tensor = native.zeros([2], 'float32', 'cpu');
  assert.throws(() => slides.slideClose(tensor), typeError('slideClose', /must be a slide handle, got a tensor handle/));
  assert.throws(() => slides.slideProperties(tensor), typeError('slideProperties', /got a tensor handle/));
  assert.throws(() => slides.slideReadRegion(tensor, 0, 0, 0, 1, 1), typeError('slideReadRegion', /got a tensor handle/));
  assert.throws(() => slides.slideClose({}), typeError('slideClose', /got an object/));
  assert.throws(() => slides.slideClose(undefined), typeError('slideClose', /got undefined/));
  // and the other way: a slide where a tensor is expected
  const slide = slides.slideOpen!(CMU) as Handle;
  assert.throws(() => native.dispose(slide), typeError('dispose', /must be a tensor handle, got a slide handle/));
  assert.throws(() => native.add(slide, 1), typeError('add', /got a slide handle/));
  assert.throws(() => native.cat([tensor, slide], 0), typeError('cat', /got a slide handle/));
  slides.slideClose(slide);
  assert.deepEqual(Array.from(new Float32Array(native.toBuffer(native.add(tensor, 1)))), [1, 1]);
});

test('process-group and gradient-reducer functions refuse tensor handles with a TypeError naming the op', { skip: !native.distDestroy && 'built without c10d' }, () => {
  const tensor = native.zeros([2], 'float32', 'cpu') as unknown as GroupHandle;
  assert.throws(() => native.distDestroy!(tensor), typeError('distDestroy', /must be a process group handle, got a tensor handle/));
  assert.throws(() => native.distBarrier!(tensor), typeError('distBarrier', /got a tensor handle/));
  assert.throws(() => native.distAllReduce!(tensor, [], 'sum'), typeError('distAllReduce', /got a tensor handle/));
  const reducer = tensor as unknown as ReducerHandle;
  assert.throws(() => native.ddpReducerFinish!(reducer), typeError('ddpReducerFinish', /must be a gradient reducer handle, got a tensor handle/));
  assert.throws(() => native.ddpReducerArm!(reducer), typeError('ddpReducerArm', /got a tensor handle/));
});

test('an absurdly large tensor ([2^40, 2^40] float32) is an Error naming the op, and no tensor is left behind', () => {
  const start = memory();
  for (const op of ['empty', 'zeros'] as const) {
    assert.throws(() => native[op]([2 ** 40, 2 ** 40], 'float32', 'cpu'), (e: unknown) => e instanceof Error && e.message.startsWith(`${op}: `));
  }
  assert.deepEqual(memory(), start);
  assert.deepEqual(Array.from(ones([2]).add(1).toFloat32Array()), [2, 2]);
});

/**
 * Runs `setup`, caps the child's address space `slackMiB` above what it then
 * uses, runs `body`, and returns what it printed; `native` is the addon.
 */
function withLittleMemory(setup: string, slackMiB: number, body: string): string {
  const script = `
    import { execFileSync } from 'node:child_process';
    import { readFileSync } from 'node:fs';
    const { native } = await import(${JSON.stringify(new URL('../../src/tensor/native.js', import.meta.url).href)});
    ${setup}
    const used = Number(/VmSize:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (used + ${slackMiB} * 2 ** 20)]);
    try {
      ${body}
      console.log('no error');
    } catch (error) {
      console.log(error.message);
    }
    console.log('still computes:', new Float32Array(native.toBuffer(native.add(native.zeros([2], 'float32', 'cpu'), 3)))[0]);
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, PATHO_NUM_THREADS: '1' } });
  assert.equal(child.status, 0, `the child died (${child.signal ?? child.status}): ${child.stderr.slice(-2000)}`);
  assert.match(child.stdout, /still computes: 3/);
  return child.stdout;
}

const noPrlimit = !existsSync('/usr/bin/prlimit') && 'needs prlimit';

// libtorch (or OpenSlide) already holds the pixels; what fails is the JavaScript
// buffer, which V8 treats as a fatal out-of-memory when an addon asks for it through Node-API
test('toBuffer of 600 MiB with 256 MiB of address space left is an Error naming toBuffer; the process goes on', { skip: noPrlimit }, () => {
  const printed = withLittleMemory(`const tensor = native.empty([600 * 2 ** 20], 'uint8', 'cpu');`, 256, 'native.toBuffer(tensor);');
  assert.match(printed, /^toBuffer: cannot allocate a buffer of 629145600 bytes/m);
});

test('slideReadRegion of 8192x8192 (256 MiB) with 384 MiB left is an Error naming slideReadRegion; the process goes on', { skip: noPrlimit || (!slides.slideOpen && 'built without OpenSlide') }, () => {
  const printed = withLittleMemory(
    `const slide = native.slideOpen(${JSON.stringify(CMU)}); native.slideReadRegion(slide, 0, 0, 0, 64, 64);`,
    384,
    'native.slideReadRegion(slide, 0, 0, 0, 8192, 8192);',
  );
  assert.match(printed, /^slideReadRegion: cannot allocate a buffer of 268435456 bytes/m);
});
