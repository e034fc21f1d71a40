/**
 * Stopping a long command cleanly on Ctrl-C or SIGTERM: the first signal
 * aborts an AbortSignal that the work checks between steps; the second exits
 * at once (130 for SIGINT, 143 for SIGTERM, as a shell reports a process those
 * signals ended).
 */
import { removeTemporariesInFlight } from '../io/atomic.js';

/**
 * Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the current step
 * (train() then writes last.pt and rejects with TrainingInterrupted); a
 * second one exits at once, removing the temporary file of a checkpoint
 * being written. A worker of a multi-process job gets every signal twice
 * (from the terminal and from the launcher), so there only the first counts.
 */
export function stopOnSignals(o: { program: string; verbose: boolean; worker: boolean }): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      if (o.verbose) process.stderr.write(`\n${o.program}: ${signal}: stopping after the current step and writing last.pt${o.worker ? '' : ' (again to quit at once)'}\n`);
      controller.abort(signal);
    } else if (!o.worker) {
      removeTemporariesInFlight();
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

