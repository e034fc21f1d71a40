import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressBar, formatDuration } from '../../src/report/progress.js';

/** A stream that records what is written, and a clock the test moves by hand. */
function fakes(isTTY: boolean, columns = 80) {
  const writes: string[] = [];
  let time = 1000;
  return {
    stream: { isTTY, columns, write: (text: string) => writes.push(text) },
    now: () => time,
    advance: (ms: number) => (time += ms),
    writes,
  };
}

test('a terminal gets one line redrawn in place with count, rate and time left', () => {
  const f = fakes(true);
  const bar = new ProgressBar({ total: 10, label: 'epoch 1/2', unit: 'images', stream: f.stream, now: f.now });
  f.advance(500);
  bar.tick(2);
  assert.equal(f.writes.length, 1);
  // 2 images in 0.5 s: 4 images/s, 8 left: 2 s
  assert.equal(f.writes[0], '\repoch 1/2  [######........................]  2/10  4.00 images/s  0:02 left\x1b[K');
  bar.setStatus('loss 0.231');
  f.advance(50);
  bar.tick(); // within 100 ms of the last draw: not drawn
  assert.equal(f.writes.length, 1);
  f.advance(450);
  bar.tick();
  assert.equal(f.writes.length, 2);
  // the bar gives up width to the status: 22 wide, 40% filled
  assert.equal(f.writes[1], '\repoch 1/2  [#########.............]  4/10  4.00 images/s  0:02 left  loss 0.231\x1b[K');
});

test('the terminal line always shows completion, and done() ends the line once', () => {
  const f = fakes(true);
  const bar = new ProgressBar({ total: 3, stream: f.stream, now: f.now });
  f.advance(1000);
  bar.tick();
  f.advance(10);
  bar.tick(2); // complete: drawn although the last draw was 10 ms ago
  assert.equal(f.writes.length, 2);
  assert.match(f.writes[1], /\[#{30}\] {2}3\/3 {2}2\.97 items\/s {2}0:00 left/);
  bar.done();
  bar.done();
  assert.equal(f.writes.at(-1), '\n');
  assert.equal(f.writes.length, 4);
  bar.tick();
  assert.equal(f.writes.length, 4);
});

test('a narrow terminal drops the bar and cuts the line so it never wraps', () => {
  const f = fakes(true, 40);
  const bar = new ProgressBar({ total: 1000, label: 'predict', unit: 'tiles', stream: f.stream, now: f.now });
  f.advance(2000);
  bar.update(10);
  const line = f.writes[0].replace(/^\r/, '').replace(/\x1b\[K$/, '');
  assert.ok(!line.includes('['), line);
  assert.ok(line.length <= 39, line);
  assert.ok(line.startsWith('predict  10/1000  5.00 tiles/s'), line);
});

test('not a terminal: a plain line every logEveryMs and a summary at the end', () => {
  const f = fakes(false);
  const bar = new ProgressBar({ total: 100, label: 'train', unit: 'images', stream: f.stream, now: f.now, logEveryMs: 1000 });
  for (let i = 0; i < 40; i++) {
    f.advance(100);
    bar.tick();
  }
  assert.deepEqual(f.writes, [
    'train  10/100 (10%)  10.0 images/s  0:09 left\n',
    'train  20/100 (20%)  10.0 images/s  0:08 left\n',
    'train  30/100 (30%)  10.0 images/s  0:07 left\n',
    'train  40/100 (40%)  10.0 images/s  0:06 left\n',
  ]);
  assert.ok(f.writes.every((w) => !w.includes('\r') && !w.includes('\x1b')));
  bar.setStatus('loss 0.5');
  f.advance(500);
  bar.done();
  assert.equal(f.writes.at(-1), 'train  40/100 images in 0:05, 8.89 images/s  loss 0.5\n');
});

test('an unknown total shows the count and rate, no bar and no time left', () => {
  const f = fakes(true);
  const bar = new ProgressBar({ stream: f.stream, now: f.now });
  f.advance(4000);
  bar.update(1000);
  assert.equal(f.writes[0], '\r1000  250 items/s\x1b[K');
});

test('durations read m:ss and h:mm:ss', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(59.6), '1:00');
  assert.equal(formatDuration(754), '12:34');
  assert.equal(formatDuration(3600 + 62), '1:01:02');
});
