/**
 * A small typed command-line option parser: commands declare their options
 * as data (`defineCommand`), and the parser turns argv into an object whose
 * type follows from that declaration (`--batch-size 4` -> `options.batchSize:
 * number`). Mistakes become a `UsageError` (exit code 2) whose message says
 * what was wrong and, for a misspelt option, what was probably meant.
 *
 * Accepted forms: `--opt value`, `--opt=value`, `-o value` (one-letter
 * aliases), `--flag`, `--no-flag`, `--flag=true|false`, `--` (everything
 * after it is positional), `-h` / `--help` anywhere before `--`.
 * A repeated option replaces the earlier value, except lists, which append.
 */

/** The kinds of value an option takes; `list` is comma-separated. */
export type OptionType = 'string' | 'number' | 'int' | 'boolean' | 'list';

/** One `--name` option of a command. */
export interface OptionSpec {
  /** kebab-case, without dashes; the parsed key is its camelCase form */
  readonly name: string;
  readonly type: OptionType;
  readonly help: string;
  /** value when not given; booleans default to false, others to undefined */
  readonly default?: string | number | boolean | readonly string[] | readonly number[];
  /** allowed values (of each item, for lists) */
  readonly choices?: readonly string[];
  /** lists only: parse each item as a number */
  readonly items?: 'string' | 'number';
  /** inclusive bounds of a number, an int or each item of a number list */
  readonly min?: number;
  readonly max?: number;
  /** a one-letter alias, used as `-x` */
  readonly short?: string;
  /** placeholder for the value in help, e.g. `DIR` */
  readonly metavar?: string;
}

/** A positional argument; only the last may be variadic. */
export interface PositionalSpec {
  readonly name: string;
  readonly help: string;
  readonly required?: boolean;
  readonly variadic?: boolean;
}

/** A command: its options, positionals, help text and examples. */
export interface CommandSpec {
  readonly name: string;
  /** one line, shown in the command list */
  readonly summary: string;
  readonly description?: string;
  readonly options: readonly OptionSpec[];
  readonly positionals?: readonly PositionalSpec[];
  /** pairs of options that may not both be given */
  readonly exclusive?: readonly (readonly [string, string])[];
  readonly examples?: readonly { readonly command: string; readonly help: string }[];
}

/** `batch-size` -> `batchSize` */
export type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

type ScalarOf<O extends OptionSpec> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'number' | 'int' }
    ? number
    : O extends { type: 'list' }
      ? O extends { items: 'number' }
        ? number[]
        : O extends { choices: readonly (infer C)[] }
          ? C[]
          : string[]
      : O extends { choices: readonly (infer C)[] }
        ? C
        : string;

type ValueOf<O extends OptionSpec> = O extends { type: 'boolean' } | { default: unknown } ? ScalarOf<O> : ScalarOf<O> | undefined;

/** The parsed options of a command, keyed by camelCase option name. */
export type OptionsOf<C extends CommandSpec> = {
  [O in C['options'][number] as CamelCase<O['name']>]: ValueOf<O>;
};

/** What `parseArgs` returns for a command. */
export interface ParsedArgs<C extends CommandSpec> {
  command: C['name'];
  options: OptionsOf<C>;
  positionals: string[];
  /** true when -h or --help was given; options then hold only defaults */
  help: boolean;
  /** the options given on the command line (camelCase keys), as opposed to defaults */
  given: string[];
}

/** A mistake on the command line; the CLI prints the message without a stack trace and exits with 2. */
export class UsageError extends Error {
  readonly exitCode = 2;

  /** @param command the full command (`patho train`), for the hint to its help */
  constructor(
    message: string,
    readonly command = 'patho',
  ) {
    super(message);
    this.name = 'UsageError';
  }

  /** The line to print after the message. */
  get hint(): string {
    return `Run '${this.command} --help' for usage.`;
  }
}

/** Declares a command with its literal types kept, so that `OptionsOf` can type its options. */
export function defineCommand<const C extends CommandSpec>(spec: C): C {
  return spec;
}

/**
 * Parses the arguments that follow the command name.
 *
 * @param program the command as users type it, for messages (`patho train`)
 */
export function parseArgs<const C extends CommandSpec>(spec: C, argv: readonly string[], program = `patho ${spec.name}`): ParsedArgs<C> {
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const byShort = new Map(spec.options.filter((o) => o.short).map((o) => [o.short, o]));
  const values = new Map<string, unknown>(spec.options.map((o) => [o.name, defaultOf(o)]));
  const given = new Set<string>();
  const positionals: string[] = [];
  const end = argv.indexOf('--');
  const help = argv.slice(0, end < 0 ? argv.length : end).some((a) => a === '-h' || a === '--help');
  if (help) return { command: spec.name, options: toOptions(spec, values), positionals, help, given: [] };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!isOptionLike(arg)) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals < 0 ? arg : arg.slice(0, equals);
    const inline = equals < 0 ? undefined : arg.slice(equals + 1);
    let option = flag.startsWith('--') ? byName.get(flag.slice(2)) : byShort.get(flag.slice(1));
    let negated = false;
    if (!option && flag.startsWith('--no-')) {
      const positive = byName.get(flag.slice(5));
      if (positive?.type === 'boolean') [option, negated] = [positive, true];
      else if (positive) throw new UsageError(`${flag} is not an option: --${positive.name} takes a value and cannot be negated`, program);
    }
    if (!option) throw new UsageError(unknownOptionMessage(flag, spec, program), program);

    let value: unknown;
    if (option.type === 'boolean') {
      if (negated && inline !== undefined) throw new UsageError(`${flag} takes no value (got '${inline}')`, program);
      value = negated ? false : parseSwitch(flag, inline, program);
    } else {
      let raw = inline;
      if (raw === undefined) {
        const next = argv[i + 1];
        if (next === undefined || next === '--' || isOptionLike(next)) {
          throw new UsageError(`${flag} expects ${describe(option)}`, program);
        }
        raw = next;
        i++;
      }
      value = convert(option, flag, raw, program);
      if (option.type === 'list' && given.has(option.name)) value = [...(values.get(option.name) as unknown[]), ...(value as unknown[])];
    }
    values.set(option.name, value);
    given.add(option.name);
  }

  for (const [a, b] of spec.exclusive ?? []) {
    if (given.has(a) && given.has(b)) throw new UsageError(`--${a} and --${b} cannot be used together`, program);
  }
  checkPositionals(spec, positionals, program);
  return { command: spec.name, options: toOptions(spec, values), positionals, help, given: [...given].map(camelCase) };
}

function defaultOf(option: OptionSpec): unknown {
  if (option.type === 'boolean') return option.default ?? false;
  return Array.isArray(option.default) ? [...option.default] : option.default;
}

function toOptions<C extends CommandSpec>(spec: C, values: Map<string, unknown>): OptionsOf<C> {
  const options: Record<string, unknown> = {};
  for (const [name, value] of values) options[camelCase(name)] = value;
  return options as OptionsOf<C>;
}

/** `batch-size` -> `batchSize` */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// `-5` and `-0.5` are values (negative numbers), `-` alone is a value (stdin by convention)
function isOptionLike(arg: string): boolean {
  return arg.startsWith('-') && arg !== '-' && !isNumber(arg);
}

function isNumber(text: string): boolean {
  return text.trim() !== '' && Number.isFinite(Number(text));
}

function parseSwitch(flag: string, inline: string | undefined, program: string): boolean {
  if (inline === undefined || inline === 'true') return true;
  if (inline === 'false') return false;
  throw new UsageError(`${flag} is a switch and takes no value (got '${inline}'); use ${flag} or --no-${flag.slice(2)}`, program);
}

function describe(option: OptionSpec): string {
  switch (option.type) {
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'list':
      return option.items === 'number' ? 'a comma-separated list of numbers' : 'a comma-separated list';
    default:
      return option.choices ? `one of ${option.choices.join(', ')}` : 'a value';
  }
}

function convert(option: OptionSpec, flag: string, raw: string, program: string): unknown {
  const fail = (message: string) => new UsageError(message, program);
  if (option.type === 'list') {
    const items = raw.split(',').map((item) => item.trim());
    if (items.some((item) => item === '')) throw fail(`${flag} expects ${describe(option)}, got '${raw}'`);
    if (option.items === 'number') {
      if (!items.every(isNumber)) throw fail(`${flag} expects ${describe(option)}, got '${raw}'`);
      return items.map((item) => checkRange(option, flag, Number(item), program));
    }
    return items.map((item) => checkChoice(option, flag, item, program));
  }
  if (option.type === 'int') {
    if (!/^[+-]?\d+$/.test(raw.trim())) throw fail(`${flag} expects an integer, got '${raw}'`);
    return checkRange(option, flag, Number(raw), program);
  }
  if (option.type === 'number') {
    if (!isNumber(raw)) throw fail(`${flag} expects a number, got '${raw}'`);
    return checkRange(option, flag, Number(raw), program);
  }
  return checkChoice(option, flag, raw, program);
}

/**
 * A value for `option` read from a JSON file (`patho train --config`),
 * checked as the command line checks its text: type, choices, range; a list
 * is a JSON array. `label` names the value in messages.
 */
export function checkJsonValue(option: OptionSpec, label: string, value: unknown, program: string): unknown {
  const expected = (what: string) => new UsageError(`${label} must be ${what}, got ${JSON.stringify(value)}`, program);
  switch (option.type) {
    case 'boolean':
      if (typeof value !== 'boolean') throw expected('true or false');
      return value;
    case 'int':
      if (!Number.isInteger(value)) throw expected('an integer');
      return checkRange(option, label, value as number, program);
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw expected('a number');
      return checkRange(option, label, value, program);
    case 'list': {
      const numbers = option.items === 'number';
      const fits = (item: unknown) => (numbers ? typeof item === 'number' && Number.isFinite(item) : typeof item === 'string');
      if (!Array.isArray(value) || value.length === 0 || !value.every(fits)) throw expected(`an array of ${numbers ? 'numbers' : 'strings'}`);
      return value.map((item) => (numbers ? checkRange(option, label, item, program) : checkChoice(option, label, item, program)));
    }
    default:
      if (typeof value !== 'string') throw expected(option.choices ? `one of ${option.choices.join(', ')}` : 'a string');
      return checkChoice(option, label, value, program);
  }
}

function checkRange(option: OptionSpec, flag: string, value: number, program: string): number {
  if (option.min !== undefined && value < option.min) throw new UsageError(`${flag} must be at least ${option.min}, got ${value}`, program);
  if (option.max !== undefined && value > option.max) throw new UsageError(`${flag} must be at most ${option.max}, got ${value}`, program);
  return value;
}

function checkChoice(option: OptionSpec, flag: string, value: string, program: string): string {
  if (option.choices && !option.choices.includes(value)) {
    throw new UsageError(`${flag} must be one of ${option.choices.join(', ')} (got '${value}')`, program);
  }
  return value;
}

function checkPositionals(spec: CommandSpec, positionals: string[], program: string): void {
  const declared = spec.positionals ?? [];
  const variadic = declared.at(-1)?.variadic ?? false;
  if (!variadic && positionals.length > declared.length) {
    const extra = positionals.slice(declared.length).map((p) => `'${p}'`).join(', ');
    const allowed = declared.length === 0 ? 'no positional arguments' : `at most ${declared.length} positional argument(s)`;
    throw new UsageError(`'${program}' takes ${allowed} (got ${extra})`, program);
  }
  declared.forEach((positional, i) => {
    if (positional.required && positionals.length <= i) {
      const what = positional.variadic ? `at least one ${positional.name}` : positional.name;
      throw new UsageError(`'${program}' needs ${what}`, program);
    }
  });
}

function unknownOptionMessage(flag: string, spec: CommandSpec, program: string): string {
  const names = ['help', ...spec.options.map((o) => o.name)];
  const typed = flag.replace(/^-+/, '');
  const guess = closest(typed, names);
  return `unknown option ${flag} for '${program}'` + (guess ? ` (did you mean --${guess}?)` : '');
}

/** The candidate nearest to `word` by edit distance, if near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = candidate.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) && bestDistance < word.length ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The `--help` text of a command, wrapped to `width` columns. */
export function helpText(spec: CommandSpec, program = `patho ${spec.name}`, width = 80): string {
  const positionals = (spec.positionals ?? []).map((p) => {
    const name = p.variadic ? `${p.name}...` : p.name;
    return p.required ? name : `[${name}]`;
  });
  const lines = [`Usage: ${[program, '[options]', ...positionals].join(' ')}`, ''];
  lines.push(...wrap(spec.description ?? spec.summary, width), '');
  const rows: [string, string][] = (spec.positionals ?? []).map((p) => [`  ${p.name}`, p.help]);
  if (rows.length > 0) lines.push('Arguments:', ...table(rows, width), '');
  const options: [string, string][] = spec.options.map((o) => [`  ${optionLabel(o)}`, o.help + defaultNote(o)]);
  options.push(['  -h, --help', 'show this help']);
  lines.push('Options:', ...table(options, width));
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const example of spec.examples) lines.push(`  ${example.command}`, ...wrap(example.help, width, '      '));
  }
  return lines.join('\n') + '\n';
}

function optionLabel(option: OptionSpec): string {
  const short = option.short ? `-${option.short}, ` : '';
  if (option.type === 'boolean') return `${short}--${option.default === true ? '[no-]' : ''}${option.name}`;
  const metavar = option.choices && option.type !== 'list' ? option.choices.join('|') : (option.metavar ?? option.type.toUpperCase());
  return `${short}--${option.name} ${metavar}`;
}

function defaultNote(option: OptionSpec): string {
  if (option.default === undefined || option.type === 'boolean') return option.default === true ? ' (default: on)' : '';
  const shown = Array.isArray(option.default) ? option.default.join(',') : String(option.default);
  return ` (default: ${shown})`;
}

/** Two columns; a label too wide for the first column puts its text on the next line. */
function table(rows: [string, string][], width: number): string[] {
  const column = Math.min(30, Math.max(...rows.map(([label]) => label.length)) + 2);
  const indent = ' '.repeat(column);
  return rows.flatMap(([label, text]) => {
    const body = wrap(text, width, indent);
    if (label.length + 2 > column) return [label, ...body];
    return [label.padEnd(column) + body[0].slice(column), ...body.slice(1)];
  });
}

function wrap(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length > indent.length && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent;
    }
    line += (line.length > indent.length ? ' ' : '') + word;
  }
  lines.push(line);
  return lines;
}
