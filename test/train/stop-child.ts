/**
 * The child of the second-signal test in stops.test.ts: a checkpoint write
 * whose bytes never finish coming, under the CLI's signal handling. A file of
 * its own, because node:test installs a SIGINT handler of its own. Without
 * PATHO_STOPS_CHILD (the test runner runs every file) it does nothing.
 */
const target = process.env.PATHO_STOPS_CHILD;
if (target) {
  const { stopOnSignals } = await import('../../src/cli/signals.js');
  const { writeFileAtomic } = await import('../../src/io/atomic.js');
  stopOnSignals({ program: 'child', verbose: true, worker: false });
  void writeFileAtomic(target, async (write) => {
    await write(new Uint8Array(16));
    process.stdout.write('writing\n');
    // a pending promise does not keep a process alive; a timer does
    await new Promise(() => setInterval(() => {}, 60_000));
  });
}
