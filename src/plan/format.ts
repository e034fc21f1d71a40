/**
 * A plan as people read it (one line per choice, with its reason) and as
 * `patho train` options. No addon.
 */
import { machineSummary } from './machine.js';
import { planOptions, type Plan, type PlannedKey, type PlannedOptions } from './planner.js';

/** `baseChannels` -> `--base-channels`. */
export function flagOf(key: PlannedKey): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** The command-line arguments that set `value` for `key` (booleans as --x / --no-x; a null budget as nothing). */
export function argsOf<K extends PlannedKey>(key: K, value: PlannedOptions[K]): string[] {
  if (value === null) return [];
  if (typeof value === 'boolean') return [value ? flagOf(key) : flagOf(key).replace(/^--/, '--no-')];
  return [flagOf(key), String(value)];
}

/** The `patho train` arguments that replay the plan's choices. */
export function planArgs(plan: Plan): string[] {
  const options = planOptions(plan);
  return (Object.keys(options) as PlannedKey[]).flatMap((k) => argsOf(k, options[k]));
}

/** The plan as text: what was seen, each choice with why, and what the run should take. */
export function formatPlan(plan: Plan, source: string): string {
  const f = plan.fingerprint;
  const size = f.width.min === f.width.max && f.height.min === f.height.max
    ? `${f.width.median}x${f.height.median}`
    : `${f.width.min}-${f.width.max} x ${f.height.min}-${f.height.max} (median ${f.width.median}x${f.height.median})`;
  const lines = [
    `data     ${source}: ${f.images} images ${size}, ${f.channels} channel${f.channels === 1 ? '' : 's'}, ${f.classes} classes, ` +
      `foreground ${(f.foregroundFraction * 100).toFixed(1)}%, ${f.objects.count} structures (median ${f.objects.medianSize} px, 90th percentile ${f.objects.p90Size} px)` +
      (f.mpp !== null ? `, ${f.mpp.toPrecision(3)} um/px` : ', resolution not stated') +
      `; ${plan.validationImages} held out for validation`,
    `machine  ${machineSummary(plan.machine)}`,
    ...plan.measurements.map(
      (m) => `measured base ${m.baseChannels}, depth ${m.depth}, ${m.patch} px, batch ${m.batchSize}, ${m.amp ? 'bf16 + channels-last' : 'fp32'}: ${(m.secondsPerImage * 1000).toFixed(0)} ms per image`,
    ),
    '',
  ];
  const rows = (Object.keys(plan.choices) as PlannedKey[]).map((k) => {
    const c = plan.choices[k];
    const shown = c.value === null ? `${flagOf(k)} (none)` : argsOf(k, c.value).join(' ');
    return [shown, c.source === 'given' ? 'given' : c.why] as const;
  });
  const width = Math.max(...rows.map(([s]) => s.length)) + 2;
  for (const [shown, why] of rows) lines.push(`  ${shown.padEnd(width)}${why}`);
  const e = plan.estimate;
  lines.push('');
  lines.push(
    e
      ? `estimate ${e.imagesPerSecond.toFixed(2)} images/s, ~${e.epochSeconds.toFixed(0)} s per epoch, ` +
          (e.epochsInBudget !== null ? `about ${e.epochsInBudget} epochs (${e.steps} steps) in ${e.minutes} minutes` : `${e.steps} steps in about ${e.minutes.toFixed(0)} minutes`) +
          ' (on a machine shared with other work, expect fewer)'
      : 'estimate none: no step time was measured',
  );
  lines.push(`replay   patho train --data ${source} ${planArgs(plan).join(' ')}`);
  return lines.join('\n') + '\n';
}
