/** The version of this package, from its package.json (node only). */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** package.json's version; the URL is relative to the compiled file, dist/src/version.js. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
