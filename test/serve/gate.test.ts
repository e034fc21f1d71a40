import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gate } from '../../src/serve/gate.js';

/** A job that finishes when the test says so. */
function held<T>(value: T) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let started = false;
  return {
    job: async () => {
      started = true;
      await done;
      return value;
    },
    finish,
    get started() {
      return started;
    },
  };
}

test('a gate of 2 running and 1 waiting: the third job waits, the fourth is refused, the waiting one runs when a turn frees', async () => {
  const gate = new Gate(2, 1);
  const jobs = [held('a'), held('b'), held('c'), held('d')];
  const a = gate.run(jobs[0].job)!;
  const b = gate.run(jobs[1].job)!;
  const c = gate.run(jobs[2].job)!;
  assert.equal(gate.run(jobs[3].job), null);
  await Promise.resolve();
  assert.deepEqual([jobs[0].started, jobs[1].started, jobs[2].started], [true, true, false]);
  assert.deepEqual(gate.load, { running: 2, waiting: 1 });
  jobs[0].finish();
  assert.equal(await a, 'a');
  await Promise.resolve();
  assert.equal(jobs[2].started, true);
  jobs[1].finish();
  jobs[2].finish();
  assert.deepEqual(await Promise.all([b, c]), ['b', 'c']);
  assert.deepEqual(gate.load, { running: 0, waiting: 0 });
});

test('a waiting job whose signal aborts is skipped and gives its place; a failing job frees its turn', async () => {
  const gate = new Gate(1, 1);
  const first = held('first');
  const running = gate.run(first.job)!;
  const gone = new AbortController();
  const skipped = held('skipped');
  const waiting = gate.run(skipped.job, gone.signal)!;
  gone.abort(new Error('client gone'));
  await assert.rejects(waiting, /client gone/);
  assert.deepEqual(gate.load, { running: 1, waiting: 0 });
  const next = held('next');
  const queued = gate.run(next.job)!;
  assert.ok(queued, 'the aborted job left its place');
  first.finish();
  next.finish();
  assert.deepEqual(await Promise.all([running, queued]), ['first', 'next']);
  assert.equal(skipped.started, false);
  await assert.rejects(gate.run(async () => { throw new Error('broken tile'); })!, /broken tile/);
  assert.deepEqual(gate.load, { running: 0, waiting: 0 });
  assert.equal(await gate.run(async () => 'after')!, 'after');
});
