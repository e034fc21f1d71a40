/**
 * Listeners of the training loop that come with the library: the progress
 * display (a bar per epoch and a line of scores after it) and the run log
 * (train.jsonl, one record per epoch).
 */
import { ProgressBar, type ProgressStream } from '../report/progress.js';
import { RunLog } from './log.js';
import type { EpochRecord, TrainingListener } from './loop.js';

/** A progress bar over each epoch's batches and its scores when it ends. */
export function progressListener(stream: ProgressStream, now?: () => number): TrainingListener {
  let bar: ProgressBar | null = null;
  return {
    epochStart({ epoch, epochs, steps }) {
      bar = new ProgressBar({ total: steps, label: Number.isFinite(epochs) ? `epoch ${epoch}/${epochs}` : `epoch ${epoch}`, unit: 'batches', stream, now });
    },
    step({ loss }) {
      bar?.setStatus(`loss ${loss.toFixed(4)}`);
      bar?.tick();
    },
    epochEnd(record) {
      bar?.done();
      stream.write(formatEpoch(record) + '\n');
    },
    end() {
      // a stopped epoch leaves its bar's line open
      bar?.done();
    },
  };
}

/** Appends `{ event: 'epoch', ...record }` to a JSON-lines file after every epoch. */
export function runLogListener(path: string, options: { append: boolean }): TrainingListener {
  const log = new RunLog<EpochRecord & { event: 'epoch' }>(path, options);
  return {
    epochEnd: (record) => log.write({ event: 'epoch', ...record }),
    end: () => log.close(),
  };
}

/** One line of an epoch's scores, as the terminal shows it. */
export function formatEpoch(r: EpochRecord): string {
  const scores = Object.keys(r.dice)
    .map((t) => `dice@${t} ${r.dice[t].toFixed(4)} iou@${t} ${r.iou[t].toFixed(4)}`)
    .join('  ');
  const bg = Object.keys(r.backgroundDice).length ? `  background dice@${Object.keys(r.backgroundDice)[0]} ${Object.values(r.backgroundDice)[0].toFixed(4)}` : '';
  return (
    `epoch ${r.epoch}  loss ${r.trainLoss.toFixed(4)}` +
    (r.valLoss !== null ? `  val_loss ${r.valLoss.toFixed(4)}` : '') +
    (scores ? `  ${scores}` : '') + bg +
    (r.sweep ? `  best threshold ${r.sweep.threshold} (dice ${r.sweep.dice.toFixed(4)})` : '') +
    (r.objects ? `  ${'f1' in r.objects ? `object F1 ${r.objects.f1.toFixed(4)}` : `V_rand ${r.objects.vRand.toFixed(4)} V_info ${r.objects.vInfo.toFixed(4)}`}` : '') +
    `  lr ${r.lr.toPrecision(3)}  ${r.imagesPerSecond.toFixed(2)} img/s  data wait ${(r.dataWait * 100).toFixed(1)}%` +
    (r.best ? '  (best)' : '')
  );
}
