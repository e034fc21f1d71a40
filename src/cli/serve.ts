/** `patho serve`: the viewer of a run or prediction folder, until interrupted. */
import { existsSync, statSync } from 'node:fs';
import { startServer } from '../serve/server.js';
import { UsageError } from './args.js';
import type { ServeOptions } from './commands.js';

export async function serveCommand(o: ServeOptions, [dir]: string[]): Promise<number> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir}: no such folder`, 'patho serve');
  const running = await startServer({ dir, port: o.port, host: o.host });
  process.stdout.write(`patho serve: ${dir} at ${running.url} (Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}
