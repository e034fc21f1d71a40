/**
 * `patho train --config FILE`: options from a JSON file. The file is either a
 * plan (`patho plan --json`, OUT/plan.json, `patho info --config`), whose
 * choices are replayed, or an object of any of the command's options by name
 * (`{"lr": 0.001, "base-channels": 32}`; camelCase names as in plan.json work
 * too). The file's values count as given, so a plan fills only what neither
 * the file nor the command line sets; the command line overrides the file.
 * No addon.
 */
import { readFileSync } from 'node:fs';
import { PLAN_FORMAT } from '../plan/planner.js';
import { camelCase, checkJsonValue, closest, UsageError, type CommandSpec, type OptionSpec } from './args.js';

/** The checked values of a config file, by camelCase option name. */
export function readConfig(path: string, spec: CommandSpec, program = `patho ${spec.name}`): Record<string, unknown> {
  const fail = (message: string) => new UsageError(`--config ${path}: ${message}`, program);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw fail(`is not JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw fail('expected a JSON object of options or a plan');
  // [option name, where the file has it, value]
  const entries = isPlan(json) ? planEntries(json, fail) : Object.entries(json).map(([key, value]) => [key, key, value] as const);
  // the file may not name itself or another file of options
  const options = spec.options.filter((o) => o.name !== 'config');
  const byName = new Map<string, OptionSpec>(options.flatMap((o) => [[o.name, o], [camelCase(o.name), o]]));
  const values: Record<string, unknown> = {};
  for (const [key, where, value] of entries) {
    const option = byName.get(key);
    if (!option) {
      const guess = closest(key, [...byName.keys()]);
      throw fail(`unknown option '${where}'` + (guess ? ` (did you mean '${guess}'?)` : ''));
    }
    const name = camelCase(option.name);
    if (name in values) throw fail(`'${key}' is set twice (as ${option.name} and ${name})`);
    values[name] = checkJsonValue(option, `--config ${path}: '${where}'`, value, program);
  }
  for (const [a, b] of spec.exclusive ?? []) {
    if (camelCase(a) in values && camelCase(b) in values) throw fail(`${a} and ${b} cannot be used together`);
  }
  return values;
}

/**
 * Parsed options with a config file's values under those given on the
 * command line; returns them and every option now given (file or command
 * line). A file's option whose exclusive partner (--val vs --val-split) is on
 * the command line gives way to it.
 */
export function withConfig<T extends { config?: string }>(
  options: T, given: readonly string[], spec: CommandSpec, program = `patho ${spec.name}`,
): { options: T; given: string[] } {
  if (!options.config) return { options, given: [...given] };
  const config = readConfig(options.config, spec, program);
  const partners = (spec.exclusive ?? []).flatMap(([a, b]) => [[camelCase(a), camelCase(b)], [camelCase(b), camelCase(a)]]);
  const merged: Record<string, unknown> = { ...options };
  const all = new Set(given);
  for (const [key, value] of Object.entries(config)) {
    if (given.includes(key) || partners.some(([mine, other]) => mine === key && given.includes(other))) continue;
    merged[key] = value;
    all.add(key);
  }
  return { options: merged as T, given: [...all] };
}

function isPlan(json: object): json is { format: unknown; choices?: unknown } {
  return 'format' in json;
}

/** A plan's choices as option entries; a choice of null (no budget) sets nothing. */
function planEntries(plan: { format: unknown; choices?: unknown }, fail: (message: string) => UsageError): (readonly [string, string, unknown])[] {
  if (plan.format !== PLAN_FORMAT) throw fail(`format ${JSON.stringify(plan.format)} is not a plan this patho reads (${PLAN_FORMAT})`);
  const choices = plan.choices;
  if (choices === null || typeof choices !== 'object' || Array.isArray(choices)) throw fail('a plan without choices');
  return Object.entries(choices).flatMap(([key, choice]): (readonly [string, string, unknown])[] => {
    if (choice === null || typeof choice !== 'object' || !('value' in choice)) throw fail(`choices.${key} has no value`);
    return choice.value === null ? [] : [[key, `choices.${key}.value`, choice.value]];
  });
}
