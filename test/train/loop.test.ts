/**
 * The training loop alone, with a fake step, fake saves and a fake clock: the
 * order of its checkpoint writes and a stop asked for mid-epoch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { HostBatch } from '../../src/data/types.js';
import { runEpochs, TrainingInterrupted, type LoopParts, type RunProgress } from '../../src/train/loop.js';

const batch: HostBatch = { names: ['a'], images: new Float32Array(1), masks: new Uint8Array(1), shape: [1, 1, 1, 1] };

/** A loop over 3 batches per epoch whose validation Dice rises every epoch; `events` records what it did. */
function fakeRun(events: string[], onStep: (epoch: number, step: number) => void = () => {}) {
  let epochSeen = 0;
  let steps = 0;
  const parts: LoopParts = {
    steps: 3,
    async *batches(epoch) {
      epochSeen = epoch;
      steps = 0;
      for (let i = 0; i < 3; i++) yield batch;
    },
    step: (_batch, stop) => {
      steps++;
      events.push(`step ${epochSeen + 1}.${steps}`);
      onStep(epochSeen + 1, steps);
      return { loss: 0.5, stop };
    },
    optimizer: { lr: 0.1 },
    epochScheduler: null,
    progressScheduler: null,
    validate: async () => ({
      images: 1, loss: 0.4, perImage: [], background: { '0.5': { dice: 0.5, iou: 0.5, precision: 0.5, recall: 0.5 } },
      thresholds: { '0.5': { dice: 0.1 * (epochSeen + 1), iou: 0, precision: 0, recall: 0 } },
    }) as never,
    afterSteps: () => {},
    agree: (flag) => flag,
    save: async (which) => void events.push(`save ${which}`),
    lastPath: '/run/last.pt',
    worldSize: 1,
  };
  const progress: RunProgress = { epoch: 0, bestDice: null, epochsSinceBest: 0, elapsedSeconds: 0 };
  let ms = 0;
  return { parts, progress, now: () => (ms += 10) };
}

const loopOptions = { epochs: 2, earlyStop: 0, validateEvery: 1, checkpointEvery: 0 };

test('each epoch writes the best model before last.pt, so last.pt never names a best score whose weights are not saved', async () => {
  const events: string[] = [];
  const { parts, progress, now } = fakeRun(events);
  const records = await runEpochs(parts, progress, { ...loopOptions, now, listeners: [] });
  assert.deepEqual(records.map((r) => r.best), [true, true]);
  assert.deepEqual(events.filter((e) => e.startsWith('save')), ['save best', 'save last', 'save best', 'save last']);
});

test('an abort mid-epoch abandons the next batch, writes last.pt once and rejects with TrainingInterrupted naming the work done', async () => {
  const events: string[] = [];
  const controller = new AbortController();
  // the stop arrives during the second step of epoch 2
  const { parts, progress, now } = fakeRun(events, (epoch, step) => epoch === 2 && step === 2 && controller.abort('SIGINT'));
  const ended: string[] = [];
  await assert.rejects(
    runEpochs(parts, progress, { ...loopOptions, now, listeners: [{ end: () => ended.push('end'), epochEnd: (r) => ended.push(`epoch ${r.epoch}`) }], signal: controller.signal }),
    (error: Error) => {
      assert.ok(error instanceof TrainingInterrupted, String(error));
      assert.equal(error.reason, 'SIGINT');
      assert.equal(error.epoch, 1);
      assert.equal(error.steps, 2);
      assert.match(error.message, /after 1 epoch and 2 steps of epoch 2 .*\/run\/last\.pt/);
      return true;
    },
  );
  assert.deepEqual(events.slice(-3), ['step 2.1', 'step 2.2', 'save last'], 'no third step, and last.pt written after the second');
  assert.deepEqual(ended, ['epoch 1', 'end'], 'listeners hear the end of the run, not an end of epoch 2');
  assert.equal(progress.epoch, 1, 'the interrupted epoch is not counted as done');
});

test('an abort between epochs writes last.pt and stops before the next epoch starts', async () => {
  const events: string[] = [];
  const controller = new AbortController();
  const { parts, progress, now } = fakeRun(events);
  const listener = { epochEnd: () => controller.abort('SIGTERM') };
  await assert.rejects(runEpochs(parts, progress, { ...loopOptions, now, listeners: [listener], signal: controller.signal }), (error: Error) => {
    assert.ok(error instanceof TrainingInterrupted);
    assert.equal(error.epoch, 1);
    assert.equal(error.steps, 0);
    return true;
  });
  assert.deepEqual(events, ['step 1.1', 'step 1.2', 'step 1.3', 'save best', 'save last', 'save last']);
});
