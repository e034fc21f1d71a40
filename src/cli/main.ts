/**
 * The `patho` command line: parses argv and runs a command. Usage and input
 * errors exit with 2, failures with 1; stack traces only with --verbose.
 */
import { UsageError } from './args.js';
import { parseCommandLine } from './commands.js';
import { packageVersion } from '../version.js';

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    const line = parseCommandLine(argv);
    switch (line.command) {
      case 'help':
        process.stdout.write(line.text);
        return 0;
      case 'version':
        process.stdout.write(`patho ${packageVersion()}\n`);
        return 0;
      // commands load the addon, so they are imported only when run
      case 'train':
        return await (await import('./train.js')).trainCommand(line.options, line.given);
      case 'plan':
        return await (await import('./plan.js')).planCommand(line.options);
      case 'eval':
        return await (await import('./evaluate.js')).evalCommand(line.options);
      case 'tune':
        return await (await import('./tune.js')).tuneCommand(line.options);
      case 'predict':
        return await (await import('./predict.js')).predictCommand(line.options, line.positionals);
      case 'info':
        return await (await import('./info.js')).infoCommand(line.options);
      case 'report':
        return await (await import('./report.js')).reportCommand(line.options, line.positionals);
      case 'serve':
        return await (await import('./serve.js')).serveCommand(line.options, line.positionals);
      case 'export':
        return await (await import('./export.js')).exportCommand(line.options, line.positionals);
    }
  } catch (error) {
    return report(error, verbose);
  }
}

/**
 * Errors that describe the input (the command line, the data, a checkpoint, a
 * slide), by name: their classes live in modules that load the addon or sharp,
 * which `patho --help` does not import.
 */
const INPUT_ERRORS = new Set(['UsageError', 'DatasetError', 'ImageDecodeError', 'CheckpointError', 'SlideError']);

/** Prints an error the way a user can act on it; returns the exit code: 2 for bad input, 1 for a failure of patho itself. */
function report(error: unknown, verbose: boolean): number {
  const e = error instanceof Error ? error : new Error(String(error));
  const inputError = INPUT_ERRORS.has(e.name) || (e as NodeJS.ErrnoException).code === 'ENOENT';
  process.stderr.write(`patho: ${e.message}\n`);
  if (e instanceof UsageError) process.stderr.write(`${e.hint}\n`);
  if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
  return inputError ? 2 : 1;
}
