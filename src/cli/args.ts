/**
 * Parsing a command's arguments, and typed readers for the parsed values: every flag is validated
 * here, at the boundary, with one E_CONFIG_INVALID line naming the flag.
 * @module
 */
import { parseArgs } from 'node:util';
import { EcomlError } from '../errors.js';
import type { CommandInput, OptionDef, OptionValues } from './command.js';

/**
 * Node's parseArgs, with our one-line errors in place of its own: a value that starts with a dash is
 * taken when it is a number (`--epochs -1` then fails as a number out of range), an unknown flag gets
 * the nearest known one suggested, and `--out --json` is a missing value, not an output named --json.
 */
export function parseCommandArgs(args: readonly string[], options: Readonly<Record<string, OptionDef>>, help: string): CommandInput {
  const { values, positionals, tokens } = parseArgs({ args: [...args], options: { ...options }, allowPositionals: true, strict: false, tokens: true });
  const bad = (message: string, option: string): EcomlError => new EcomlError('E_CONFIG_INVALID', `${message} (see '${help}')`, { details: { option } });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const def = options[token.name];
    if (def === undefined) {
      const near = nearest(token.name, Object.keys(options));
      throw bad(`unknown option ${token.rawName}${near === undefined ? '' : `; did you mean --${near}?`}`, token.name);
    }
    if (def.type === 'boolean') {
      if (token.value !== undefined) throw bad(`${token.rawName} takes no value`, token.name);
      continue;
    }
    if (token.value === undefined) throw bad(`${token.rawName} needs a value`, token.name);
    if (!token.inlineValue && /^-[^\d.]/.test(token.value)) {
      throw bad(`${token.rawName} needs a value, and ${token.value} is an option (write ${token.rawName}=${token.value} if it is the value)`, token.name);
    }
  }
  return { values, positionals };
}

/** The known name closest to a mistyped one (Levenshtein distance ≤ a third of its length, at least 2), if any. */
function nearest(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const candidate of [...known].sort()) {
    const distance = candidate.startsWith(name) ? 1 : editDistance(name, candidate);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new EcomlError('E_CONFIG_INVALID', `--${name} needs a value`);
  return v;
}

export function numberOption(
  values: OptionValues,
  name: string,
  rule: { integer?: boolean; min?: number; max?: number; exclusiveMax?: boolean } = {},
): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const bad = (why: string): EcomlError => new EcomlError('E_CONFIG_INVALID', `--${name} ${why}, got "${raw}"`, { details: { option: name, value: raw } });
  if (raw.trim() === '' || !Number.isFinite(n)) throw bad('must be a number');
  if (rule.integer && !Number.isInteger(n)) throw bad('must be an integer');
  if (rule.min !== undefined && n < rule.min) throw bad(`must be ≥ ${rule.min}`);
  if (rule.max !== undefined && (rule.exclusiveMax ? n >= rule.max : n > rule.max)) throw bad(`must be ${rule.exclusiveMax ? '<' : '≤'} ${rule.max}`);
  return n;
}

export function booleanOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function requirePositional(positionals: readonly string[], index: number, name: string): string {
  const v = positionals[index];
  if (v === undefined) throw new EcomlError('E_CONFIG_INVALID', `missing ${name} (see --help)`);
  return v;
}
