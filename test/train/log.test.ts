import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RunLog, readRunLog } from '../../src/train/log.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface EpochRecord {
  epoch: number;
  loss: number | null;
  dice: Record<string, number>;
}

test('records round-trip through a JSON-lines file, one per line', () => {
  const path = join(dir, 'run', 'nested', 'log.jsonl');
  const log = new RunLog<EpochRecord>(path);
  log.write({ epoch: 1, loss: 0.5, dice: { '0.5': 0.9 } });
  // visible on disk before close: nothing waits in a buffer
  assert.equal(readFileSync(path, 'utf8'), '{"epoch":1,"loss":0.5,"dice":{"0.5":0.9}}\n');
  log.write({ epoch: 2, loss: NaN, dice: { '0.5': 0.95, '0.7': 0.93 } });
  log.close();
  log.close();
  assert.deepEqual(readRunLog<EpochRecord>(path), [
    { epoch: 1, loss: 0.5, dice: { '0.5': 0.9 } },
    { epoch: 2, loss: null, dice: { '0.5': 0.95, '0.7': 0.93 } },
  ]);
  assert.throws(() => log.write({ epoch: 3, loss: 0, dice: {} }), /is closed/);
});

test('a resumed run appends; append: false starts over', () => {
  const path = join(dir, 'append.jsonl');
  new RunLog(path).write({ a: 1 });
  const again = new RunLog(path, { fsync: true });
  again.write({ a: 2 });
  again.close();
  assert.deepEqual(readRunLog(path), [{ a: 1 }, { a: 2 }]);
  const fresh = new RunLog(path, { append: false });
  fresh.write({ a: 3 });
  fresh.close();
  assert.deepEqual(readRunLog(path), [{ a: 3 }]);
});

test('a last line torn by a crash is left out; a bad line elsewhere is an error with its line number', () => {
  const path = join(dir, 'torn.jsonl');
  writeFileSync(path, '{"epoch":1}\n\n{"epoch":2}\n');
  appendFileSync(path, '{"epoch":3,"lo');
  assert.deepEqual(readRunLog(path), [{ epoch: 1 }, { epoch: 2 }]);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"epoch":1}\nnot json\n{"epoch":2}\n');
  assert.throws(() => readRunLog(bad), (error: Error) => error.message.startsWith(`${bad}:2: not a JSON record`));
});
