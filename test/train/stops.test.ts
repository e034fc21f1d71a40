/**
 * Clean stops of `patho train`: SIGINT or SIGTERM once it has reported
 * progress ends it with 130 or 143, a loadable last.pt, no temporary files
 * and a line saying how to resume; a second signal exits at once, removing
 * the checkpoint being written; temporaries a killed run left are removed at
 * the next start. Nothing here waits for a time: each signal is sent after
 * the child has said it reached the point the test is about.

 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { removeOrphanedTemporaries } from '../../src/io/atomic.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir, writeShapes } from './helpers.js';

const PATHO_BIN = fileURLToPath(new URL('../../../bin/patho.js', import.meta.url));

interface Child {
  /** resolves when the output so far matches */
  waitFor(pattern: RegExp): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
}

/** Starts `node args` and collects its output; killed after two minutes so a hang fails instead of stalling. */
function run(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiting]) {
      if (w.pattern.test(stdout + stderr)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (d) => ((stdout += d), check()));
  child.stderr.on('data', (d) => ((stderr += d), check()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.once('close', (code, signal) => (clearTimeout(timer), resolve({ code, signal, stderr, stdout }))),
  );
  return {
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ pattern, resolve });
        check();
        void done.then((d) => reject(new Error(`exited (${d.code ?? d.signal}) before printing ${pattern}: ${d.stderr}`)));
      }),
    kill: (signal) => child.kill(signal),
    done,
  };
}

let dir = '';
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir('patho-stops-'));
  await writeShapes(join(dir, 'data'), { count: 8, size: 32, seed: 6 });
});
after(() => cleanup());

const trainArgs = (out: string, epochs: number) => [
  PATHO_BIN, 'train', '--data', join(dir, 'data'), '--out', out, '--epochs', String(epochs), '--batch-size', '2', '--patch', '0',
  '--depth', '1', '--base-channels', '2', '--workers', '0', '--threads', '1', '--val-split', '0.25',
];

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`${signal} after an epoch: exit ${code}, last.pt loads, no temporary files, and the line to resume`, async () => {
    const out = join(dir, signal);
    const child = run(trainArgs(out, 100000));
    // an epoch's score line: at least one checkpoint has been written
    await child.waitFor(/^epoch 1 {2}loss/m);
    child.kill(signal);
    const result = await child.done;
    assert.equal(result.code, code, result.stderr);
    assert.match(result.stderr, new RegExp(`${signal}: stopping after the current step`));
    assert.match(result.stderr, /training stopped \(SIG\w+\) after \d+ epochs?/);
    assert.match(result.stderr, /to continue: patho train .*--epochs 100000 .*--resume\n/);
    assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp-')), []);
    const checkpoint = await loadCheckpoint(join(out, 'last.pt'));
    try {
      assert.ok(checkpoint.meta.epoch >= 1 && checkpoint.optimizer !== null, `epoch ${checkpoint.meta.epoch}`);
    } finally {
      disposeCheckpoint(checkpoint);
    }
    // the stopped run resumes from it
    const resumed = run([...trainArgs(out, 100000), '--resume']);
    await resumed.waitFor(/^epoch \d+ {2}loss/m);
    resumed.kill('SIGINT');
    assert.equal((await resumed.done).code, 130);
  });
}

test('a second SIGINT exits at once with 130 and removes the checkpoint being written', async () => {
  const target = join(dir, 'second', 'last.pt');
  mkdirSync(join(dir, 'second'));
  const child = run([fileURLToPath(new URL('./stop-child.js', import.meta.url))], { PATHO_STOPS_CHILD: target });
  await child.waitFor(/writing/);
  assert.equal(readdirSync(join(dir, 'second')).filter((f) => f.includes('.tmp-')).length, 1);
  child.kill('SIGINT');
  await child.waitFor(/SIGINT: stopping after the current step/);
  child.kill('SIGINT');
  const result = await child.done;
  assert.equal(result.code, 130, result.stderr);
  assert.deepEqual(readdirSync(join(dir, 'second')), [], 'the temporary file is gone and no last.pt was made');
});

test('temporaries of a killed run are removed at the next start; those of a live process are kept', async () => {
  const out = join(dir, 'orphans');
  mkdirSync(out);
  // a process that has exited: its pid names no process now
  const gone = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => gone.once('exit', resolve));
  const orphan = `last.pt.tmp-${gone.pid}-0123456789ab`;
  const live = `model.pt.tmp-${process.pid}-0123456789ab`;
  writeFileSync(join(out, orphan), 'half a checkpoint');
  writeFileSync(join(out, live), 'being written');
  assert.deepEqual(removeOrphanedTemporaries(out), [orphan]);
  assert.ok(existsSync(join(out, live)));
  writeFileSync(join(out, orphan), 'half a checkpoint');
  const child = run(trainArgs(out, 1));
  const result = await child.done;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`removed 1 temporary file\\(s\\) a killed run left in .*: ${orphan.replace(/\./g, '\\.')}`));
  assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp-')), [live]);
});
