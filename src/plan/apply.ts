/**
 * A plan meets the command line: what the user gave goes into the plan as
 * given, the plan fills in the rest, and a stored plan.json is read back (for
 * --resume and for the workers of a multi-process run, which must train with
 * the plan their launcher made, not a fresh measurement of their own). No addon.
 */
import { readFileSync } from 'node:fs';
import { PLAN_ADDITIONS, PLAN_FORMAT, PLANNED_KEYS, type Plan, type PlannedKey, type PlannedOptions } from './planner.js';

/** The planned options among those given on the command line. */
export function givenOptions(options: object, given: readonly string[]): Partial<PlannedOptions> {
  const values = options as Record<string, unknown>;
  return Object.fromEntries(PLANNED_KEYS.filter((k) => given.includes(k)).map((k) => [k, values[k]])) as Partial<PlannedOptions>;
}

/**
 * Sets the plan's choices on parsed options, except those given on the
 * command line (`given`, camelCase). A plan without a budget leaves
 * maxMinutes unset.
 */
export function applyPlan<T extends object>(options: T, plan: Plan, given: readonly string[]): T {
  const out = { ...options } as Record<string, unknown>;
  for (const key of PLANNED_KEYS) {
    if (given.includes(key)) continue;
    const value = plan.choices[key].value;
    out[key] = value === null ? undefined : value;
  }
  return out as T;
}

/** Reads a plan.json written by `patho plan --json` or `patho train`; the error names the file. */
export function readPlan(path: string): Plan {
  let plan: Plan;
  try {
    plan = JSON.parse(readFileSync(path, 'utf8')) as Plan;
  } catch (error) {
    throw new Error(`${path}: not a readable plan (${(error as Error).message})`);
  }
  // a plan of an older patho lacks the options added since: they keep the value it trained with
  for (const [key, value] of Object.entries(PLAN_ADDITIONS)) {
    if (plan?.choices && typeof plan.choices === 'object' && !plan.choices[key as PlannedKey]) {
      (plan.choices as Record<string, unknown>)[key] = { value, why: 'not in this older plan: as it trained', source: 'plan' };
    }
  }
  const missing = PLANNED_KEYS.filter((k) => !plan?.choices?.[k]);
  if (plan?.format !== PLAN_FORMAT || missing.length) {
    throw new Error(`${path}: not a ${PLAN_FORMAT} plan` + (missing.length ? ` (no ${missing.join(', ')})` : ''));
  }
  return plan;
}
