/**
 * The layering the trainer split set (issue 16): the command line sits on top
 * of the library, so nothing below `src/cli/` imports from it. A library user
 * (or the browser page) must not pull in the CLI's option tables and process
 * handling to get a default.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../../src/', import.meta.url));
const cli = join(src, 'cli');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The relative module specifiers of a file: static imports and re-exports, and dynamic import('...'). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm)) found.push(m[1]);
  return found;
}

test('the specifier scan finds static, type-only, re-exported and dynamic imports', () => {
  const text = `import { a } from '../cli/a.js';\nimport type { B } from "./b.js";\nexport * from '../c.js';\nconst d = await import('../d.js');\nimport './e.js';\nimport x from 'node:fs';`;
  assert.deepEqual(specifiers(text), ['../cli/a.js', './b.js', '../c.js', '../d.js', './e.js']);
});

test('nothing below src/cli imports from src/cli', () => {
  const files = sources(src).filter((f) => !f.startsWith(cli + '/'));
  assert.ok(files.length > 50, `found only ${files.length} source files under ${src}`);
  const offenders: string[] = [];
  for (const file of files) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (target === cli || target.startsWith(cli + '/')) offenders.push(`${relative(src, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});
