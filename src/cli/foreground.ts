/**
 * `--foreground`: which mask values are foreground, as values (one class) or
 * as value:name pairs, a class per distinct name in the order given
 * (`1:gland,2:tumour`, or `1:gland,3:gland,2:tumour` for two values of one
 * class), or `instances` for masks that number their objects. Names travel
 * with the model into its outputs. Addon-free.
 */
import type { ForegroundSpec } from '../data/masks.js';
import { UsageError } from './args.js';

/** The mask-value mapping and, for value:name pairs, the class names (class 1, 2, ... in order). */
export function foregroundOption(items: readonly string[] | undefined, program: string): { spec: ForegroundSpec | undefined; names: string[] | null } {
  if (items === undefined) return { spec: undefined, names: null };
  const fail = (why: string) =>
    new UsageError(`--foreground ${items.join(',')}: ${why}; give mask values (1, or 1,2 for one class), value:name pairs (1:gland,2:tumour) or instances`, program);
  // an instance mask: every nonzero value foreground, each value one object
  if (items.length === 1 && items[0] === 'instances') return { spec: 'instances', names: null };
  const value = (text: string) => {
    if (!/^\d+$/.test(text) || Number(text) > 65535) throw fail(`'${text}' is not a mask value (0 to 65535)`);
    return Number(text);
  };
  const named = items.filter((item) => item.includes(':'));
  if (named.length === 0) return { spec: items.map(value), names: null };
  if (named.length !== items.length) throw fail('values and value:name pairs cannot be mixed');
  const spec: Record<number, number> = {};
  const names: string[] = [];
  for (const item of items) {
    const at = item.indexOf(':');
    const [v, name] = [value(item.slice(0, at)), item.slice(at + 1).trim()];
    if (name === '') throw fail(`'${item}' has no class name`);
    if (name.toLowerCase() === 'background') throw fail('Background is class 0, the values not listed');
    if (v in spec) throw fail(`value ${v} is given twice`);
    if (!names.includes(name)) names.push(name);
    spec[v] = names.indexOf(name) + 1;
  }
  return { spec, names };
}
